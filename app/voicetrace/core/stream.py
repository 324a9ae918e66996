"""One request's chunks as an iterator (the Python API's `engine.stream` / `engine.open`): a session whose sink
is a queue the caller reads. Needs no sound card and no Qt. The first `next()` may wait for the first phrase; a
slow reader makes synthesis wait (the queue holds a few chunks, not the whole text's audio). The text may be
whole, fed in pieces (`feed` / `flush` / `end`), or read from an iterable of pieces (a model's token stream) on
a thread of its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

from ..contract import Piece, RequestMetrics, TtsChunk
from ..errors import UserError
from .session import Session
from .sink import StreamSink
from .source import ChunkSource

CANCEL_ACK_S = 10.0  # a cancel not acknowledged by then raises: the source is stuck
DEFAULT_S_PER_CHAR = 0.07  # seconds of speech per character, for a source that does not measure it (remote)


class Stream:
    """A one-pass iterator of `TtsChunk`s; once `cancel()` has returned it yields nothing more."""

    def __init__(self, source: ChunkSource, text: str | Iterable[str] | None = None, voice: str | None = None,
                 speed: float = 1.0, sample_rate: int | None = None) -> None:
        """`text`: the whole text, an iterable of pieces (read on a thread, then ended), or None (feed it)."""
        self._source = source
        self._sink = StreamSink(sample_rate or source.rate)
        self._session = Session(self._sink, {source.name: source})
        self.sample_rate = self._sink.rate
        self.text_error: BaseException | None = None  # what the iterable of pieces raised, if it did
        try:
            if isinstance(text, str):
                self._request = self._session.submit(text, source.name, voice, speed)  # UserError for bad input
            else:
                self._request = self._session.open(source.name, voice, speed)
        except BaseException:
            self._session.close()
            raise
        self._done = False
        if text is not None and not isinstance(text, str):
            threading.Thread(target=self._read_pieces, args=(text,), name=f"text-{self.request_id}",
                             daemon=True).start()

    # ---- streamed text ---------------------------------------------------------------------------------
    def feed(self, text: str) -> None:
        self._request.feed(text)

    def flush(self) -> None:
        self._request.flush()

    def end(self) -> None:
        self._request.end()

    def _read_pieces(self, pieces: Iterable[str]) -> None:
        try:
            for piece in pieces:
                if self._request.stop.is_set():
                    return
                self.feed(piece)
        except UserError:
            return  # cancelled or ended meanwhile
        except BaseException as exc:  # the model's stream broke: speak what came, then say why
            self.text_error = exc
        if not self._request.stop.is_set():
            self.end()

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
        if self.text_error is not None:
            raise UserError(f"the text stopped: {type(self.text_error).__name__}: {self.text_error}",
                            "what came before was spoken") from self.text_error
        raise StopIteration

    def words(self, chunk_index: int, spread_s: float | None = None) -> list[tuple[str, float, float]]:
        """The words that start with chunk `chunk_index` as (word, start s, end s) from that chunk's first sample,
        in order: the engine's own times when it timed the phrase (Kokoro, a server running it; a phrase made
        in pieces has all its words on its first piece, later ones may start past that piece's end). A phrase
        the engine did not time (Piper; Kokoro when its phonemes merged two words): with `spread_s` (the
        chunk's length), its words laid in proportion to their characters over the phrase's expected length
        (the engine's measured seconds per character, at least `spread_s`): an estimate; without, []. [] for
        a chunk that continues a phrase."""
        told = self._request.output  # what the source said of its chunks
        piece = told.piece(chunk_index)
        if piece is None:
            return []
        planned = told.phrase(piece.phrase)
        text = planned.text if planned is not None else ""
        words = text.split()
        times = piece.word_times
        if times and len(words) == len(times):
            rate = self.sample_rate
            return [(w, a / rate, b / rate) for w, (a, b) in zip(words, times, strict=True)]
        first = next(e.index for e in self._request.trace.of(Piece) if e.phrase == piece.phrase) == chunk_index
        if spread_s is None or not first or not words:
            return []
        per_char = float(getattr(getattr(self._source, "worker", None), "sec_per_char_est", DEFAULT_S_PER_CHAR))
        spread_s = max(spread_s, len(text) * per_char / self._request.speed)
        total = sum(len(w) + 1 for w in words)
        out, pos = [], 0
        for w in words:
            a = spread_s * pos / total
            pos += len(w) + 1
            out.append((w, a, spread_s * (pos - 1) / total))
        return out

    def cancel(self, played_ms: float | None = None) -> None:
        """Stop it now: drop what is queued, stop synthesis; returns once the source acknowledged. `played_ms`:
        how much of the audio taken so far was played (then `metrics().heard_text` is the words of that much;
        without it, of all the audio handed to this stream)."""
        self._done = True
        self._request.cancel(played_ms)
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


async def aiter_stream(stream: Stream, pieces: AsyncIterable[str] | None = None) -> AsyncIterator[TtsChunk]:
    """The same chunks for asyncio code: each wait runs in a thread, so the event loop never blocks; leaving the
    loop early (break, an exception, a task cancel) cancels the request. `pieces`: an async iterable of text
    (a model's token stream) fed as it comes, then ended."""
    finished = False
    feeder = asyncio.create_task(_feed_async(stream, pieces)) if pieces is not None else None
    try:
        while True:
            chunk = await asyncio.to_thread(next, stream, None)
            if chunk is None:
                finished = True
                return
            yield chunk
    finally:
        if feeder is not None:
            feeder.cancel()
        if not finished:
            await asyncio.to_thread(stream.cancel)


async def _feed_async(stream: Stream, pieces: AsyncIterable[str]) -> None:
    try:
        async for piece in pieces:
            stream.feed(piece)
    except UserError:
        return
    except Exception as exc:  # the model's stream broke: speak what came, then say why
        stream.text_error = exc
    stream.end()
