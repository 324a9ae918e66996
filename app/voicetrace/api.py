"""The Python API behind `import voicetrace as vt`: load an engine and stream its chunks (sync or asyncio), or
speak through a session that plays to the sound card. See README, "Use it from Python", and examples/."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Protocol

from .contract import TtsChunk
from .core.pipeline import LocalSource
from .core.source import ChunkSource
from .core.stream import Stream, aiter_stream
from .remote.source import RemoteSource

REMOTE_SCHEMES = ("ws://", "wss://", "http://", "https://")


class _Streaming(ChunkSource, Protocol):
    pass


class StreamsText:
    """What a loaded engine adds to its chunk source: a request's chunks as an iterator (no sound card)."""

    def stream(self: _Streaming, text: str | Iterable[str], voice: str | None = None, speed: float = 1.0,
               sample_rate: int | None = None) -> Stream:
        """Start speaking `text` — a string, or an iterable of pieces such as a language model's tokens (spoken
        as they come); iterate the result for `TtsChunk`s (float32 mono at `sample_rate`, by default the
        engine's own). Raises UserError for bad text, voice or speed."""
        return Stream(self, text, voice, speed, sample_rate)

    def open(self: _Streaming, voice: str | None = None, speed: float = 1.0, sample_rate: int | None = None
             ) -> Stream:
        """A request without its text yet: `feed(text)`, `flush()`, `end()`, `cancel()` on it while iterating."""
        return Stream(self, None, voice, speed, sample_rate)

    def astream(self: _Streaming, text: str | AsyncIterable[str], voice: str | None = None, speed: float = 1.0,
                sample_rate: int | None = None) -> AsyncIterator[TtsChunk]:
        """`stream` for asyncio code (`async for chunk in engine.astream(...)`); `text` may be an async iterable
        of pieces (a model's token stream)."""
        if isinstance(text, str):
            return aiter_stream(Stream(self, text, voice, speed, sample_rate))
        return aiter_stream(Stream(self, None, voice, speed, sample_rate), text)

    def close(self: _Streaming) -> None:
        """Stop the engine (its thread, its connection)."""
        self.stop()


class Engine(StreamsText, LocalSource):
    """A local engine (Kokoro, Piper, a user's model), loaded and warm."""


class RemoteEngine(StreamsText, RemoteSource):
    """A server's engine (`voicetrace serve` over ws://, or an OpenAI-compatible http:// server), connected."""


def load(name: str = "kokoro", device: str = "cpu", timeout: float | None = 300.0, token: str | None = None,
         model: str | None = None) -> Engine | RemoteEngine:
    """Load and warm an engine (`kokoro`, `piper`, a model id of `voicetrace models`), or connect to a server
    (a ws:// or http:// URL, with its `token` and `model`). Raises ModelError / UserError with the fix."""
    engine: Engine | RemoteEngine
    if name.startswith(REMOTE_SCHEMES):
        engine = RemoteEngine(name, token, model).start()
    else:
        engine = Engine.load(name, device=device)
    try:
        engine.wait_ready(timeout)
    except BaseException:
        engine.stop()
        raise
    return engine
