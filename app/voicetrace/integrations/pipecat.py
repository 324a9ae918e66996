"""VoiceTrace as a Pipecat TTS service (extra `voicetrace[pipecat]`, tested with pipecat-ai 1.14.0).

    from voicetrace.integrations.pipecat import VoiceTraceTTSService
    tts = VoiceTraceTTSService(engine="kokoro")          # or "piper", "ws://host:8000", voicetrace.load(...)
    pipeline = Pipeline([transport.input(), stt, user_agg, llm, tts, transport.output(), assistant_agg])

Each turn (a reply of the LLM, a `TTSSpeakFrame`) is one VoiceTrace request whose text is fed token by token
as the LLM streams it: VoiceTrace's planner chooses when a phrase is worth speaking (its first phrase after a
few words, no waiting for a sentence). Its chunks become `TTSAudioRawFrame`s at the pipeline's output rate as
they are made; Kokoro's exact word times go through Pipecat's word-timestamp mechanism (`TTSTextFrame`s with
presentation times). An interruption cancels the request in flight: the engine aborts its run and no audio
frame of that turn follows. Pipecat's TTFB and processing metrics are pushed as `MetricsFrame`s (with
`PipelineParams(enable_metrics=True)`); VoiceTrace's own record of each turn (`RequestMetrics`: first chunk,
real-time factor, cancel → engine idle, what was heard) is given to the `on_voicetrace_metrics` event handler
and kept in `request_metrics`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    StartFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
)
from pipecat.services.settings import NOT_GIVEN, TTSSettings
from pipecat.services.tts_service import TextAggregationMode, TTSService
from pipecat.utils.types import NotGiven

from ..contract import RequestMetrics
from ..core.source import ChunkSource
from ..core.stream import Stream
from ..errors import UserError
from ._common import next_chunk, open_engine, open_stream, pcm16

KEEP_METRICS = 64  # records of past turns kept in `request_metrics`


@dataclass
class VoiceTraceTTSSettings(TTSSettings):
    """Runtime-updatable settings (`TTSUpdateSettingsFrame`): `voice`, and `speed` (0.5-2.0); a change applies
    from the next turn."""

    speed: float | NotGiven = field(default_factory=lambda: NOT_GIVEN)


@dataclass
class _Turn:
    """One turn's VoiceTrace request and the task that moves its chunks into the audio context."""

    stream: Stream
    t_open: float  # time.time() when its first text came
    reader: asyncio.Task[None] | None = None
    audio_s: float = 0.0  # audio handed to Pipecat so far (where the next chunk's words start)
    chunks: int = 0


class VoiceTraceTTSService(TTSService):
    """A Pipecat `TTSService` speaking with a warm VoiceTrace engine (see the module docstring).

    Event handlers (besides TTSService's): `on_voicetrace_metrics(service, context_id, RequestMetrics)`, once per
    turn, when its request has ended (done, cancelled and acknowledged, or failed)."""

    Settings = VoiceTraceTTSSettings
    _settings: VoiceTraceTTSSettings

    def __init__(self, *, engine: str | ChunkSource = "kokoro", voice: str | None = None, speed: float = 1.0,
                 device: str = "cpu", token: str | None = None, model: str | None = None,
                 settings: VoiceTraceTTSSettings | None = None,
                 text_aggregation_mode: TextAggregationMode = TextAggregationMode.TOKEN,
                 stop_frame_timeout_s: float = 10.0, **kwargs: Any) -> None:
        """`engine`: a model id (`kokoro`, `piper`, ...: loading starts now, in the background), a `voicetrace
        serve` URL (`ws://host:port`, with its `token` and `model`), or an engine the app loaded with
        `voicetrace.load` (shared: not stopped by this service). `voice`, `speed`: the engine's voice (its
        default when None) and speaking rate. `text_aggregation_mode`: TOKEN (the default) hands the LLM's
        tokens to VoiceTrace's planner as they come; SENTENCE makes Pipecat wait for sentences first.
        `stop_frame_timeout_s`: how long a turn's audio context may wait for its next chunk (a slow LLM)."""
        ref = open_engine(engine, device, token, model)
        self._engine = ref
        defaults = VoiceTraceTTSSettings(model=ref.source.name, voice=voice, language=None, speed=speed)
        if settings is not None:
            defaults.apply_update(settings)
        super().__init__(text_aggregation_mode=text_aggregation_mode, push_text_frames=False,
                         push_start_frame=True, push_stop_frames=False, pause_frame_processing=False,
                         stop_frame_timeout_s=stop_frame_timeout_s, settings=defaults, **kwargs)
        self._tokens = text_aggregation_mode == TextAggregationMode.TOKEN
        self._turns: dict[str, _Turn] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self.request_metrics: dict[str, RequestMetrics] = {}  # by Pipecat context id, the latest KEEP_METRICS
        self._register_event_handler("on_voicetrace_metrics")

    # ---- what Pipecat asks of a service -----------------------------------------------------------------
    def can_generate_metrics(self) -> bool:
        return True

    @property
    def supports_processing_metrics(self) -> bool:
        # run_tts only hands text over; the turn's processing time is pushed when its request ends.
        return False

    @property
    def engine(self) -> ChunkSource:
        """The VoiceTrace engine this service speaks with."""
        return self._engine.source

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        # Loading ran since __init__; a failed load is reported now rather than at the first turn.
        source = self._engine.source
        if source.ready.is_set() and source.error is not None:
            await self.push_error(f"VoiceTrace engine {source.name} failed to load: {source.error}",
                                  exception=source.error if isinstance(source.error, Exception) else None)

    async def stop(self, frame: EndFrame) -> None:
        # No more text can come: every open turn speaks what it has and ends (Pipecat then drains its audio).
        for turn in self._turns.values():
            _end_quietly(turn.stream)
        await super().stop(frame)
        await self._wait_closing()

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        await self._cancel_all()

    async def cleanup(self) -> None:
        await super().cleanup()
        await self._cancel_all()
        await asyncio.to_thread(self._engine.stop)

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        """Feed `text` (a token, or a sentence in SENTENCE mode) to the turn's request, opening it on the turn's
        first text; its audio arrives through the reader task, so this yields None (as streaming services do)."""
        turn = self._turns.get(context_id)
        try:
            if turn is None:
                turn = self._open_turn(context_id)
            elif not self._tokens and not text[:1].isspace():
                text = " " + text  # whole sentences: one must not run into the next ("Sure.Streaming")
            turn.stream.feed(text)
            await self.start_tts_usage_metrics(text)
        except UserError as exc:
            yield ErrorFrame(error=f"VoiceTrace: {exc}")
            return
        yield None

    async def flush_audio(self, context_id: str | None = None) -> None:
        """The turn's text is complete: speak the rest of it, then end its request."""
        turn = self._turns.get(context_id or self.get_active_audio_context_id() or "")
        if turn is not None:
            _end_quietly(turn.stream)

    async def on_audio_context_interrupted(self, context_id: str) -> None:
        """The user interrupted: stop moving this turn's chunks at once, and cancel its request (the engine
        aborts the phrase it is making; its acknowledgement and record come in the background)."""
        await self._cancel_turn(context_id)
        await super().on_audio_context_interrupted(context_id)

    # ---- a turn ------------------------------------------------------------------------------------------
    def _open_turn(self, context_id: str) -> _Turn:
        speed = self._settings.speed if isinstance(self._settings.speed, float | int) else 1.0
        voice = self._settings.voice if isinstance(self._settings.voice, str) else None
        turn = _Turn(open_stream(self._engine.source, voice, float(speed), self.sample_rate), time.time())
        self._turns[context_id] = turn
        turn.reader = self.create_task(self._read_turn(context_id, turn), f"voicetrace-{context_id[:8]}")
        return turn

    async def _read_turn(self, context_id: str, turn: _Turn) -> None:
        """Move the request's chunks into the turn's audio context as they are made, each chunk's timed words
        with it; at the request's end close the context and report its figures."""
        stream = turn.stream
        try:
            while (chunk := await asyncio.to_thread(next_chunk, stream)) is not None:
                if len(chunk.audio):
                    frame = TTSAudioRawFrame(pcm16(chunk.audio), chunk.sample_rate, 1, context_id=context_id)
                    await self.append_to_audio_context(context_id, frame)
                # the engine's word times; a phrase it did not time: its words spread over its first chunk
                words = stream.words(chunk.chunk_index, spread_s=len(chunk.audio) / chunk.sample_rate)
                if words:
                    await self.add_word_timestamps([(w, turn.audio_s + a) for w, a, _ in words], context_id)
                turn.audio_s += len(chunk.audio) / chunk.sample_rate
                turn.chunks += 1
        except UserError as exc:  # the request failed (an engine fault, a bad voice): the turn ends with it
            await self.push_error(f"VoiceTrace: {exc}")
        if self._turns.get(context_id) is not turn:
            return  # interrupted meanwhile: its context is gone
        del self._turns[context_id]
        await self.start_processing_metrics(start_time=turn.t_open)
        await self.stop_processing_metrics()
        if self.audio_context_available(context_id):
            await self.append_to_audio_context(context_id, TTSStoppedFrame(context_id=context_id))
            await self.remove_audio_context(context_id)
        await self._report(context_id, stream)

    async def _cancel_turn(self, context_id: str) -> None:
        turn = self._turns.pop(context_id, None)
        if turn is None:
            return
        if turn.reader is not None:
            await self.cancel_task(turn.reader)  # nothing more of this turn reaches Pipecat from here
        task = self.create_task(self._finish_cancel(context_id, turn.stream), f"voicetrace-cancel-{context_id[:8]}")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _finish_cancel(self, context_id: str, stream: Stream) -> None:
        try:
            await asyncio.to_thread(stream.cancel)
        except TimeoutError as exc:
            logger.warning(f"{self}: {exc}")
        await self._report(context_id, stream)

    async def _cancel_all(self) -> None:
        for context_id in list(self._turns):
            await self._cancel_turn(context_id)
        await self._wait_closing()

    async def _wait_closing(self) -> None:
        if self._closing:
            await asyncio.gather(*list(self._closing), return_exceptions=True)

    async def _report(self, context_id: str, stream: Stream) -> None:
        metrics = await asyncio.to_thread(stream.metrics)
        self.request_metrics[context_id] = metrics
        while len(self.request_metrics) > KEEP_METRICS:
            del self.request_metrics[next(iter(self.request_metrics))]
        await self._call_event_handler("on_voicetrace_metrics", context_id, metrics)


def _end_quietly(stream: Stream) -> None:
    with contextlib.suppress(UserError):  # already ended or cancelled
        stream.end()
