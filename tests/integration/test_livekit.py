"""The LiveKit Agents TTS driven through LiveKit's own TTS API (`tts.stream()` with push_text / flush /
end_input, `tts.synthesize()`, `aclose()` mid-speech), its metrics events and timed transcript as LiveKit
emits them. The fast lane uses the fake engine (a tone, words timed as Kokoro times them); `models` runs
Piper and Kokoro."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from livekit.agents import tts as lk_tts
from livekit.agents.metrics import TTSMetrics
from livekit.agents.types import USERDATA_TIMED_TRANSCRIPT

from voicetrace.contract import RequestMetrics
from voicetrace.integrations.livekit import TTS
from voicetrace.testing.fakes import fake_source
from voicetrace.text.feed import token_pieces

REPLY = "Sure. Streaming speech starts while the reply is still being written, so the first words come early."
LONG = ("This answer goes on for a while, so that the user has time to interrupt it in the middle of a "
        "sentence, and the engine is still busy making the next phrase when the interruption arrives here.")
RATE = 16_000




class Events:
    def __init__(self, tts: TTS) -> None:
        self.metrics: list[TTSMetrics] = []
        self.records: list[tuple[str, RequestMetrics]] = []
        tts.on("metrics_collected", self.metrics.append)
        tts.on("voicetrace_metrics", self.records.append)


async def _stream_reply(tts: TTS, text: str) -> list[lk_tts.SynthesizedAudio]:
    out: list[lk_tts.SynthesizedAudio] = []
    async with tts.stream() as stream:
        for i, piece in enumerate(token_pieces(text)):
            stream.push_text(piece)
            if i % 5 == 0:
                await asyncio.sleep(0.005)  # an LLM's pace, roughly
        stream.end_input()
        async for ev in stream:
            out.append(ev)
    return out


def _words(events: list[lk_tts.SynthesizedAudio]) -> list[Any]:
    return [t for ev in events for t in ev.frame.userdata.get(USERDATA_TIMED_TRANSCRIPT, [])]


def test_capabilities():
    tts = TTS(engine=fake_source())
    assert tts.capabilities.streaming and tts.capabilities.aligned_transcript
    assert tts.provider == "voicetrace" and tts.model == "fake"
    asyncio.run(tts.aclose())


def test_stream_pushes_audio_a_timed_transcript_and_metrics(fake):
    async def main() -> tuple[list[lk_tts.SynthesizedAudio], Events]:
        tts = TTS(engine=fake, sample_rate=RATE)
        events = Events(tts)
        out = await _stream_reply(tts, REPLY)
        await asyncio.sleep(0.05)
        await tts.aclose()
        return out, events

    out, events = asyncio.run(main())
    assert out and all(ev.frame.sample_rate == RATE and ev.frame.num_channels == 1 for ev in out)
    assert out[-1].is_final and sum(ev.frame.duration for ev in out) > 0.5
    words = _words(out)
    assert "".join(words).split() == REPLY.split()
    starts = [w.start_time for w in words]
    assert starts == sorted(starts) and all(w.end_time >= w.start_time for w in words)
    (m,) = events.metrics
    assert not m.cancelled and m.streamed and m.ttfb > 0 and m.audio_duration > 0.5
    assert m.characters_count == len("".join(token_pieces(REPLY))) and m.duration >= m.ttfb
    ((rid, rec),) = events.records
    assert rid == m.request_id and rec.outcome == "done" and rec.stream_input


def test_synthesize_whole_text(fake):
    async def main() -> tuple[Any, Events]:
        tts = TTS(engine=fake, sample_rate=RATE)
        events = Events(tts)
        frame = await tts.synthesize(REPLY).collect()
        await asyncio.sleep(0.05)
        await tts.aclose()
        return frame, events

    frame, events = asyncio.run(main())
    assert frame.sample_rate == RATE and frame.duration > 0.5
    (m,) = events.metrics
    assert not m.cancelled and not m.streamed and m.characters_count == len(REPLY)
    assert [r.outcome for _, r in events.records] == ["done"]


def test_closing_a_stream_mid_speech_cancels_the_request(slow_fake):
    async def main() -> tuple[float, Events]:
        tts = TTS(engine=slow_fake, sample_rate=RATE)
        events = Events(tts)
        stream = tts.stream()
        for piece in token_pieces(LONG):
            stream.push_text(piece)
        stream.flush()
        got = 0.0
        async for ev in stream:
            got += ev.frame.duration
            if got > 0.3:
                break
        await stream.aclose()  # what the agent does when the user interrupts
        await asyncio.sleep(0.05)
        await tts.aclose()
        return got, events

    got, events = asyncio.run(main())
    assert got > 0.3
    ((_, rec),) = events.records
    # An abort, not the phrase in flight finished: at rtf 1.0 its pieces take up to ~2 s of compute; the
    # abort takes milliseconds (the bound is far from both, so load cannot flip it).
    assert rec.outcome == "cancelled" and rec.cancel_to_idle_ms is not None
    assert rec.cancel_to_idle_ms < 1000  # not a timing
    assert rec.audio_ms / 1000 < len(LONG) * 0.02  # the engine stopped before the whole reply was made
    (m,) = events.metrics
    assert m.cancelled and m.audio_duration > 0 and m.characters_count == len("".join(token_pieces(LONG)))


def test_a_stream_with_no_text_ends_quietly(fake):
    async def main() -> list[Any]:
        tts = TTS(engine=fake, sample_rate=RATE)
        stream = tts.stream()
        stream.end_input()
        out = [ev async for ev in stream]
        await tts.aclose()
        return out

    assert asyncio.run(main()) == []


@pytest.mark.models
def test_kokoro_words_are_timed(kokoro_source):
    async def main() -> list[lk_tts.SynthesizedAudio]:
        tts = TTS(engine=kokoro_source)
        out = await _stream_reply(tts, "Hello there, this is Kokoro speaking.")
        await tts.aclose()
        return out

    out = asyncio.run(main())
    assert [str(w).strip() for w in _words(out)] == ["Hello", "there,", "this", "is", "Kokoro", "speaking."]


@pytest.mark.models
def test_piper_has_no_word_times_and_says_so(piper_source):
    async def main() -> tuple[TTS, list[lk_tts.SynthesizedAudio]]:
        tts = TTS(engine=piper_source, sample_rate=22_050)
        out = await _stream_reply(tts, "Hello there, this is Piper speaking.")
        await tts.aclose()
        return tts, out

    tts, out = asyncio.run(main())
    assert not tts.capabilities.aligned_transcript and sum(ev.frame.duration for ev in out) > 1.0
    # estimated word times still come, so a transcript never misses a phrase the engine did not time
    assert "".join(_words(out)).split() == ["Hello", "there,", "this", "is", "Piper", "speaking."]


@pytest.mark.models
def test_a_voicetrace_server_over_ws(server):
    async def main() -> tuple[list[lk_tts.SynthesizedAudio], Events]:
        tts = TTS(engine=server.ws, model="kokoro", sample_rate=RATE)
        await asyncio.to_thread(tts.engine.wait_ready, 30)
        events = Events(tts)
        out = await _stream_reply(tts, "Hello there, this is the server speaking.")
        await asyncio.sleep(0.05)
        await tts.aclose()
        return out, events

    out, events = asyncio.run(main())
    assert sum(ev.frame.duration for ev in out) > 1.0
    assert "".join(_words(out)).split() == ["Hello", "there,", "this", "is", "the", "server", "speaking."]
    ((_, rec),) = events.records
    assert rec.engine == "remote" and rec.outcome == "done" and rec.server_ttfa_ms is not None
