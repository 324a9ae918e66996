"""VoiceTrace as a LiveKit Agents TTS (extra `voicetrace[livekit]`, tested with livekit-agents 1.8.9).

    from voicetrace.integrations.livekit import TTS
    session = AgentSession(stt=..., llm=..., tts=TTS(engine="kokoro"), vad=...)

LiveKit Agents has no local TTS of its own: this one runs a warm VoiceTrace engine in the agent's process (or
talks to a `voicetrace serve` over ws://). `stream()` takes the LLM's text as it is pushed (`push_text`), and
VoiceTrace's planner decides when a phrase is worth speaking (no sentence tokenizer in between); `flush()` has
what was pushed spoken now, `end_input()` ends the request. Audio comes as 16-bit frames at `sample_rate`;
Kokoro's word times come as a timed transcript (`TimedString`s, `aligned_transcript=True`). Closing a stream
(the agent interrupted) cancels the request: the engine aborts the phrase it is making. Each stream's
`TTSMetrics` (ttfb, duration, audio_duration, characters, cancelled) is emitted as `metrics_collected`, a
cancelled one included; VoiceTrace's own record (`RequestMetrics`) is emitted as `voicetrace_metrics` with
the LiveKit request id, and kept in `request_metrics`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Literal

from livekit.agents import tts
from livekit.agents.metrics import TTSMetrics
from livekit.agents.metrics.base import Metadata
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from livekit.agents.utils import shortuuid
from livekit.agents.voice.io import TimedString

from ..contract import RequestMetrics
from ..core.source import ChunkSource
from ..core.stream import Stream
from ..errors import UserError
from ._common import next_chunk, open_engine, open_stream, pcm16

KEEP_METRICS = 64  # records of past requests kept in `request_metrics`


class TTS(tts.TTS[Literal["voicetrace_metrics"]]):
    """A LiveKit Agents TTS speaking with a warm VoiceTrace engine (see the module docstring)."""

    def __init__(self, *, engine: str | ChunkSource = "kokoro", voice: str | None = None, speed: float = 1.0,
                 sample_rate: int = 24_000, device: str = "cpu", token: str | None = None,
                 model: str | None = None, aligned_transcript: bool | None = None) -> None:
        """`engine`: a model id (`kokoro`, `piper`, ...: loading starts now, in the background), a `voicetrace
        serve` URL (`ws://host:port`, with its `token` and `model`), or an engine the app loaded with
        `voicetrace.load` (shared: not stopped by `aclose`). `voice`, `speed`: the engine's voice (its default
        when None) and rate. `aligned_transcript`: whether word times are offered (by default yes, except for
        Piper, which does not time words)."""
        self._engine = open_engine(engine, device, token, model)
        if aligned_transcript is None:
            aligned_transcript = _engine_kind(self._engine.source) != "piper"
        super().__init__(capabilities=tts.TTSCapabilities(streaming=True, aligned_transcript=aligned_transcript),
                         sample_rate=sample_rate, num_channels=1)
        self.voice = voice
        self.speed = speed
        self.request_metrics: dict[str, RequestMetrics] = {}  # by LiveKit request id, the latest KEEP_METRICS
        self._streams: set[SynthesizeStream] = set()

    @property
    def model(self) -> str:
        return self._engine.source.name

    @property
    def provider(self) -> str:
        return "voicetrace"

    @property
    def engine(self) -> ChunkSource:
        """The VoiceTrace engine this TTS speaks with."""
        return self._engine.source

    def prewarm(self) -> None:
        """Loading started when the TTS was made; nothing more to do."""

    def synthesize(self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
                   ) -> ChunkedStream:
        return ChunkedStream(tts=self, input_text=text, conn_options=conn_options)

    def stream(self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS) -> SynthesizeStream:
        stream = SynthesizeStream(tts=self, conn_options=conn_options)
        self._streams.add(stream)
        return stream

    async def aclose(self) -> None:
        for stream in list(self._streams):
            await stream.aclose()
        self._streams.clear()
        await asyncio.to_thread(self._engine.stop)

    # ---- shared by both kinds of stream -----------------------------------------------------------------
    def _open(self, text: str | None = None) -> Stream:
        source = self._engine.source
        if text is None:
            return open_stream(source, self.voice, self.speed, self.sample_rate)
        return Stream(source, text, self.voice, self.speed, self.sample_rate)

    async def _pump(self, stream: Stream, emitter: tts.AudioEmitter) -> None:
        """Push the request's chunks into `emitter` as they come, each phrase's timed words before its audio.
        UserError when the request failed."""
        audio_s = 0.0
        while (chunk := await asyncio.to_thread(next_chunk, stream)) is not None:
            # the engine's word times; a phrase it did not time: its words spread over its first chunk (an
            # estimate, so that LiveKit's aligned transcript never misses a phrase)
            words = stream.words(chunk.chunk_index, spread_s=len(chunk.audio) / chunk.sample_rate)
            if words:
                emitter.push_timed_transcript([TimedString(f"{w} ", start_time=audio_s + a, end_time=audio_s + b)
                                               for w, a, b in words])
            if len(chunk.audio):
                emitter.push(pcm16(chunk.audio))
            audio_s += len(chunk.audio) / chunk.sample_rate

    async def _settle(self, request_id: str, stream: Stream, finished: bool) -> RequestMetrics:
        """After a request ended or was left: cancel it if it runs (the engine aborts), then its record."""
        if not finished:
            with contextlib.suppress(TimeoutError):
                await asyncio.to_thread(stream.cancel)
        metrics = await asyncio.to_thread(stream.metrics)
        self.request_metrics[request_id] = metrics
        while len(self.request_metrics) > KEEP_METRICS:
            del self.request_metrics[next(iter(self.request_metrics))]
        self.emit("voicetrace_metrics", (request_id, metrics))
        return metrics

    def _emit_cancelled(self, request_id: str, started: float, metrics: RequestMetrics,
                        emitter: tts.AudioEmitter, chars: int, streamed: bool) -> None:
        """LiveKit emits a stream's metrics when its last frame comes; a cancelled one never gets there. Its
        audio: what LiveKit delivered before the cancel."""
        ttfb = -1.0 if metrics.first_chunk_ms is None else metrics.first_chunk_ms / 1000
        audio_s = emitter.pushed_duration()
        self.emit("metrics_collected", TTSMetrics(
            timestamp=time.time(), request_id=request_id, ttfb=ttfb, duration=time.perf_counter() - started,
            audio_duration=audio_s, cancelled=True, characters_count=chars, label=self.label, streamed=streamed,
            metadata=Metadata(model_name=self.model, model_provider=self.provider)))


class ChunkedStream(tts.ChunkedStream):
    """`synthesize(text)`: the whole text at once (VoiceTrace still speaks its first phrase first)."""

    def __init__(self, *, tts: TTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._vt = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        request_id = shortuuid()
        output_emitter.initialize(request_id=request_id, sample_rate=self._vt.sample_rate, num_channels=1,
                                  mime_type="audio/pcm")
        started, finished = time.perf_counter(), False
        try:
            stream = self._vt._open(self._input_text)
        except UserError as exc:
            raise tts_error(exc) from exc
        try:
            await self._vt._pump(stream, output_emitter)
            finished = True
        except UserError as exc:
            finished = True
            raise tts_error(exc) from exc
        finally:
            metrics = await self._vt._settle(request_id, stream, finished)
            if not finished:
                self._vt._emit_cancelled(request_id, started, metrics, output_emitter, len(self._input_text),
                                         streamed=False)


class SynthesizeStream(tts.SynthesizeStream):
    """`stream()`: text pushed as the LLM writes it, one VoiceTrace request opened at the first text."""

    def __init__(self, *, tts: TTS, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, conn_options=conn_options)
        self._vt = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        request_id = shortuuid()
        output_emitter.initialize(request_id=request_id, sample_rate=self._vt.sample_rate, num_channels=1,
                                  mime_type="audio/pcm", stream=True)
        opened: asyncio.Future[Stream] = asyncio.get_running_loop().create_future()
        feeder = asyncio.create_task(self._feed(opened, output_emitter, request_id), name="voicetrace-feed")
        stream: Stream | None = None
        started, finished = time.perf_counter(), False
        try:
            waits: list[asyncio.Future[object]] = [feeder, opened]  # type: ignore[list-item]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if not opened.done():  # the input ended with no text: nothing to say
                await feeder
                finished = True
                return
            stream = opened.result()
            started = time.perf_counter()
            await self._vt._pump(stream, output_emitter)
            await feeder
            output_emitter.end_segment()
            finished = True
        except UserError as exc:
            finished = True
            raise tts_error(exc) from exc
        finally:
            feeder.cancel()
            if stream is not None:
                metrics = await self._vt._settle(request_id, stream, finished)
                if not finished:
                    self._vt._emit_cancelled(request_id, started, metrics, output_emitter, len(self._pushed_text),
                                             streamed=True)
            self._vt._streams.discard(self)

    async def _feed(self, opened: asyncio.Future[Stream], emitter: tts.AudioEmitter, request_id: str) -> None:
        """The pushed text into the request as it comes (opened at the first text); flush → speak what came."""
        stream: Stream | None = None
        async for data in self._input_ch:
            if isinstance(data, self._FlushSentinel):
                if stream is not None:
                    stream.flush()
                continue
            if not data:
                continue
            if stream is None:
                stream = self._vt._open()
                emitter.start_segment(segment_id=request_id)
                self._mark_started()
                opened.set_result(stream)
            stream.feed(data)
        if stream is not None:
            stream.end()


def tts_error(exc: UserError) -> Exception:
    from livekit.agents import APIError

    return APIError(f"VoiceTrace: {exc}", retryable=False)


def _engine_kind(source: ChunkSource) -> str:
    engine = getattr(source, "engine", None)
    entry = getattr(engine, "entry", None)
    return str(getattr(entry, "engine", source.name))
