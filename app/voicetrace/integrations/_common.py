"""What both framework integrations share, framework-free: opening the engine they speak with (a name, a URL,
or an engine the app loaded) and turning a chunk into what a framework's audio frame carries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..api import REMOTE_SCHEMES, Engine, RemoteEngine
from ..contract import AudioArray, TtsChunk
from ..core.source import ChunkSource
from ..core.stream import Stream

Words = list[tuple[str, float, float]]  # (word, start s, end s)


@dataclass
class EngineRef:
    """The engine a framework service speaks with, and whether the service loaded it (then it stops it)."""

    source: ChunkSource
    owned: bool

    def stop(self) -> None:
        if self.owned:
            self.source.stop()


def open_engine(engine: str | ChunkSource, device: str = "cpu", token: str | None = None,
                model: str | None = None) -> EngineRef:
    """`engine`: a model id of `voicetrace models` (kokoro, piper, ...: loaded and warmed on its own thread,
    this returns at once), a `voicetrace serve` URL (ws://, connected on its own thread) or an engine already
    loaded (`voicetrace.load(...)`, shared: the caller stops it)."""
    if not isinstance(engine, str):
        return EngineRef(engine, owned=False)
    if engine.startswith(REMOTE_SCHEMES):
        return EngineRef(RemoteEngine(engine, token, model).start(), owned=True)
    return EngineRef(Engine.load(engine, device=device), owned=True)


def open_stream(source: ChunkSource, voice: str | None, speed: float, sample_rate: int) -> Stream:
    """A request whose text is fed as it comes (VoiceTrace's planner decides what to speak when), its chunks
    at `sample_rate`."""
    return Stream(source, None, voice or None, speed, sample_rate)


def pcm16(audio: AudioArray) -> bytes:
    """float32 mono → 16-bit little-endian PCM, what both frameworks' audio frames carry."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def next_chunk(stream: Stream) -> TtsChunk | None:
    """The stream's next chunk, or None at its end (for `asyncio.to_thread`)."""
    return next(stream, None)
