"""Speech into a file: a request on its own session whose sink plays nothing (`StreamSink`), each chunk
encoded as it comes (`audio.encode.AudioWriter`: WAV, FLAC, OGG, Opus, MP3 by the extension), so a long
article is held neither whole nor twice. Used by `speak --out` and the window's Save speech; the source may be
one that also speaks (a shared warm worker: its live requests go first, by deadline)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..audio.encode import AudioWriter
from ..contract import PhrasePlanned, RequestMetrics, SynthEnd
from ..errors import UserError
from .session import Request, Session
from .sink import StreamSink
from .source import ChunkSource


class SpeechFile:
    """One file being made: `start()`, then `progress()` / `cancel()` from any thread, `wait()` for the end.
    A save that does not finish leaves no file (unless cancelled with `keep=True`: what was made so far)."""

    def __init__(self, source: ChunkSource, path: str, start: Callable[[Session], Request]) -> None:
        self.source = source
        self.path = path
        self._start = start
        self.sink = StreamSink(source.rate)
        self.writer = AudioWriter(path, self.sink.rate)  # UserError for an unknown extension or folder
        self.session = Session(self.sink, {source.name: source})
        self.request: Request | None = None
        self.record: RequestMetrics | None = None
        self.error: str | None = None
        self.kept = False  # ended by a cancel that kept what was made
        self._keep = False
        self._failed: list[BaseException] = []
        self.done = threading.Event()

    def start(self) -> SpeechFile:
        self.request = self._start(self.session)
        threading.Thread(target=self._collect, name="file-writer", daemon=True).start()
        return self

    def _collect(self) -> None:
        req = self.request
        assert req is not None
        try:
            while (item := self.sink.take(timeout=0.2)) is not None or not req.finished.is_set():
                if item is not None:
                    self.writer.write(item[2])
        except Exception as exc:  # a full disk: said, and the request stopped
            self._failed.append(exc)
            req.cancel()
        try:
            self.record = req.result(timeout=60)
        finally:
            self.session.close()
            self.sink.close()
            self._finish()

    def _finish(self) -> None:
        m = self.record
        if self._failed:
            self.writer.abort()
            self.error = f"could not write {self.path} ({self._failed[0]})"
        elif m is not None and m.outcome == "done":
            self.writer.close()
        elif m is not None and m.outcome == "cancelled" and self._keep and self.writer.frames:
            self.writer.close()
            self.kept = True
        else:
            self.writer.abort()
            if m is not None and m.outcome == "failed":
                self.error = m.error or "synthesis failed"
        self.done.set()

    def progress(self) -> tuple[int, int]:
        """(words made, words in the text): phrases whose synthesis ended, by their words."""
        req = self.request
        if req is None:
            return 0, 0
        planned = {e.index: e for e in req.trace.of(PhrasePlanned)}
        ended = {e.index for e in req.trace.of(SynthEnd)}
        total = max((e.total_words for e in planned.values()), default=0)
        made = sum(e.words for i, e in planned.items() if i in ended)
        return made, max(total, made)

    @property
    def seconds(self) -> float:
        return self.writer.seconds

    def cancel(self, keep: bool = False) -> None:
        """Stop making it; the file is removed unless `keep` (then it holds what was made)."""
        self._keep = keep
        if self.request is not None:
            self.request.cancel()

    def wait(self, timeout: float | None = None) -> RequestMetrics:
        """The finished request's record; UserError if the file could not be written."""
        if not self.done.wait(timeout):
            raise TimeoutError(f"{self.path} still being made after {timeout} s")
        if self.error is not None and self._failed:
            raise UserError(self.error, "check the free space and the folder")
        assert self.record is not None
        return self.record
