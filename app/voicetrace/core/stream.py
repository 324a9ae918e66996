"""One request's chunks as an iterator (the Python API's `engine.stream`): a session whose sink is a queue the
caller reads. Needs no sound card and no Qt. The first `next()` may wait for the first phrase; a slow reader
makes synthesis wait (the queue holds a few chunks, not the whole text's audio)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

from ..contract import RequestMetrics, TtsChunk
from ..errors import UserError
from .session import Session
from .sink import StreamSink
from .source import ChunkSource

CANCEL_ACK_S = 10.0  # a cancel not acknowledged by then raises: the source is stuck


class Stream:
    """A one-pass iterator of `TtsChunk`s; once `cancel()` has returned it yields nothing more."""

    def __init__(self, source: ChunkSource, text: str, voice: str | None = None, speed: float = 1.0,
                 sample_rate: int | None = None) -> None:
        self._sink = StreamSink(sample_rate or source.rate)
        self._session = Session(self._sink, {source.name: source})
        self.sample_rate = self._sink.rate
        try:
            self._request = self._session.submit(text, source.name, voice, speed)  # UserError for bad input
        except BaseException:
            self._session.close()
            raise
        self._done = False

    @property
    def request_id(self) -> str:
        return self._request.id

    def __iter__(self) -> Iterator[TtsChunk]:
        return self

    def __next__(self) -> TtsChunk:
        req = self._request
        while not self._done:
            item = self._sink.take(timeout=0.05)
            if item is not None:
                _, index, audio, last = item
                self._done = last
                return req.chunk(index, audio, last, self.sample_rate)
            if req.finished.is_set() and not self._sink.queued_s():
                self._done = True
                if req.outcome == "failed":
                    raise UserError(f"speech failed: {req.error}")
        self._close()
        raise StopIteration

    def cancel(self) -> None:
        """Stop it now: drop what is queued, stop synthesis; returns once the source acknowledged."""
        self._done = True
        self._request.cancel()
        if not self._request.finished.wait(CANCEL_ACK_S):
            raise TimeoutError(f"the engine did not acknowledge the cancel of {self.request_id} in "
                               f"{CANCEL_ACK_S:.0f} s")
        self._close()

    def metrics(self) -> RequestMetrics:
        """The request's record (the same fields as `voicetrace speak --json`); final once iteration ended."""
        return self._session.record(self._request)

    def _close(self) -> None:
        # The last chunk can be taken before its writer has marked the request done: let it finish first.
        self._request.finished.wait(CANCEL_ACK_S)
        self._session.close()
        self._sink.close()

    def __del__(self) -> None:  # an abandoned stream must not keep its engine busy
        req = getattr(self, "_request", None)
        if req is not None and not req.finished.is_set():
            req.cancel()


async def aiter_stream(stream: Stream) -> AsyncIterator[TtsChunk]:
    """The same chunks for asyncio code: each wait runs in a thread, so the event loop never blocks; leaving the
    loop early (break, an exception, a task cancel) cancels the request."""
    finished = False
    try:
        while True:
            chunk = await asyncio.to_thread(next, stream, None)
            if chunk is None:
                finished = True
                return
            yield chunk
    finally:
        if not finished:
            await asyncio.to_thread(stream.cancel)
