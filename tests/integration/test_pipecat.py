"""The Pipecat service run by Pipecat's own test utility (`pipecat.tests.utils.run_test`: a real pipeline and
worker around the service): streamed LLM text in; audio frames at the pipeline's rate, word-timestamp frames
and metrics frames out; an interruption mid-speech cancels the request, and no audio of that turn follows it.
The fast lane uses the fake engine (a tone, words timed as Kokoro times them); `models` runs Piper and Kokoro."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

pytest.importorskip("pipecat")

from pipecat.frames.frames import (
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    MetricsFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.metrics.metrics import ProcessingMetricsData, TTFBMetricsData
from pipecat.pipeline.worker import PipelineParams
from pipecat.tests.utils import SleepFrame, run_test

from voicetrace.contract import RequestMetrics
from voicetrace.integrations.pipecat import VoiceTraceTTSService
from voicetrace.text.feed import token_pieces

REPLY = "Sure. Streaming speech starts while the reply is still being written, so the first words come early."
LONG = ("This answer goes on for a while, so that the user has time to interrupt it in the middle of a "
        "sentence, and the engine is still busy making the next phrase when the interruption arrives here.")
RATE = 16_000


def _turn(text: str) -> list[Frame]:
    return [LLMFullResponseStartFrame(), *(LLMTextFrame(t) for t in token_pieces(text)), LLMFullResponseEndFrame()]


def _run(tts: VoiceTraceTTSService, frames: list[Frame]) -> tuple[list[Frame], dict[str, RequestMetrics]]:
    records: dict[str, RequestMetrics] = {}

    @tts.event_handler("on_voicetrace_metrics")
    async def _on_metrics(service: Any, context_id: str, metrics: RequestMetrics) -> None:
        records[context_id] = metrics

    params = PipelineParams(enable_metrics=True, audio_out_sample_rate=RATE)
    down, _ = asyncio.run(run_test(tts, frames_to_send=frames, pipeline_params=params, start_timeout=10.0))
    return list(down), records


def _metrics(down: list[Frame], kind: type) -> list[Any]:
    return [d for f in down if isinstance(f, MetricsFrame) for d in f.data if isinstance(d, kind)]




def test_streamed_llm_text_comes_out_as_audio_word_frames_and_metrics(fake):
    tts = VoiceTraceTTSService(engine=fake)
    down, records = _run(tts, _turn(REPLY))
    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    assert audio and all(f.sample_rate == RATE and f.num_channels == 1 for f in audio)
    assert sum(f.num_frames for f in audio) > 0.5 * RATE
    kinds = [type(f) for f in down]
    assert kinds.index(TTSStartedFrame) < kinds.index(TTSAudioRawFrame) < kinds.index(TTSStoppedFrame)
    assert len({f.context_id for f in audio}) == 1
    # Word frames from the engine's word times, in order, with presentation times that grow.
    words = [f for f in down if isinstance(f, TTSTextFrame)]
    assert [f.text for f in words] == REPLY.split()  # one frame per word: each timed by the engine
    pts = [f.pts for f in words]
    assert all(p is not None for p in pts) and all(a < b for a, b in itertools.pairwise(pts))
    # Pipecat's own metrics frames, and VoiceTrace's record of the turn.
    assert _metrics(down, TTFBMetricsData) and _metrics(down, ProcessingMetricsData)
    (m,) = records.values()
    assert m.outcome == "done" and m.stream_input and m.first_chunk_ms is not None
    assert tts.request_metrics == records


def test_an_interruption_mid_speech_cancels_the_request_and_no_audio_of_it_follows(slow_fake):
    tts = VoiceTraceTTSService(engine=slow_fake)
    frames = [*_turn(LONG)[:-1], SleepFrame(1.0), InterruptionFrame(), SleepFrame(0.5),
              TTSSpeakFrame("Okay, go ahead.")]
    down, records = _run(tts, frames)
    cut = next(i for i, f in enumerate(down) if isinstance(f, InterruptionFrame))
    first = [f for f in down[:cut] if isinstance(f, TTSAudioRawFrame)]
    assert first, "some audio of the first turn came before the interruption"
    interrupted = first[0].context_id
    after = [f for f in down[cut:] if isinstance(f, TTSAudioRawFrame)]
    assert not [f for f in after if f.context_id == interrupted]
    assert after, "the next turn is spoken"
    m = records[interrupted]
    assert m.outcome == "cancelled" and m.cancelled
    # An abort, not the phrase in flight finished: at rtf 1.0 its pieces take up to ~2 s of compute; the
    # abort takes milliseconds (the bound is far from both, so load cannot flip it).
    assert m.cancel_to_idle_ms is not None and m.cancel_to_idle_ms < 1000  # not a timing
    heard = sum(f.num_frames for f in first) / RATE
    assert heard < len(LONG) * 0.02  # cut short: the whole reply is longer than what came
    assert [m.outcome for c, m in records.items() if c != interrupted] == ["done"]


def test_sentence_mode_and_a_speak_frame_work_too(fake):
    from pipecat.services.tts_service import TextAggregationMode

    tts = VoiceTraceTTSService(engine=fake, text_aggregation_mode=TextAggregationMode.SENTENCE)
    down, records = _run(tts, [*_turn(REPLY), TTSSpeakFrame("And one more thing.")])
    contexts = {f.context_id for f in down if isinstance(f, TTSAudioRawFrame)}
    assert len(contexts) == 2 and [m.outcome for m in records.values()] == ["done", "done"]
    assert sorted(m.heard_text or "" for m in records.values()) == ["And one more thing.", REPLY]  # not run together


@pytest.mark.models
def test_piper_in_a_pipeline(piper_source):
    tts = VoiceTraceTTSService(engine=piper_source)
    down, records = _run(tts, [*_turn(LONG)[:-1], SleepFrame(0.3), InterruptionFrame(), SleepFrame(0.3)])
    cut = next(i for i, f in enumerate(down) if isinstance(f, InterruptionFrame))
    assert any(isinstance(f, TTSAudioRawFrame) for f in down[:cut])
    assert not any(isinstance(f, TTSAudioRawFrame) for f in down[cut:])
    (m,) = records.values()
    assert m.engine == "piper" and m.outcome in ("cancelled", "done")


@pytest.mark.models
def test_piper_words_are_estimated_per_phrase(piper_source):
    down, _ = _run(VoiceTraceTTSService(engine=piper_source), _turn(REPLY))
    assert [f.text for f in down if isinstance(f, TTSTextFrame)] == REPLY.split()


@pytest.mark.models
def test_kokoro_gives_exact_word_timestamps(kokoro_source):
    tts = VoiceTraceTTSService(engine=kokoro_source)
    down, records = _run(tts, _turn("Hello there, this is Kokoro speaking."))
    words = [f for f in down if isinstance(f, TTSTextFrame)]
    assert [f.text for f in words] == ["Hello", "there,", "this", "is", "Kokoro", "speaking."]
    pts = [f.pts for f in words]
    assert all(a < b for a, b in itertools.pairwise(pts))
    assert [m.outcome for m in records.values()] == ["done"]


@pytest.mark.models
def test_a_voicetrace_server_over_ws_through_the_same_service(server):
    tts = VoiceTraceTTSService(engine=server.ws, model="piper")
    tts.engine.wait_ready(30)
    long = " ".join([LONG] * 3)
    try:
        down, records = _run(tts, [*_turn(long)[:-1], SleepFrame(1.5), InterruptionFrame(), SleepFrame(0.5)])
    finally:
        tts.engine.stop()
    cut = next(i for i, f in enumerate(down) if isinstance(f, InterruptionFrame))
    assert any(isinstance(f, TTSAudioRawFrame) for f in down[:cut])
    assert not any(isinstance(f, TTSAudioRawFrame) for f in down[cut:])
    words = [f.text for f in down[:cut] if isinstance(f, TTSTextFrame)]
    assert words and long.startswith(" ".join(words))
    (m,) = records.values()
    assert m.engine == "remote" and m.outcome == "cancelled" and m.server_ttfa_ms is not None
