"""An audio sink takes a request's chunks and can drop them at once.

- the PortAudio player (`audio.player.Player`): a ring read by the audio callback, which reports what it
  played (`plays = True`, records through `drain()`), so TTFA, cadence, underruns and cancel → silence are
  measured at the DAC;
- a `StreamSink`: chunks queued for a consumer that takes them at its own pace — an iterator in the Python
  API, a socket in the server, a file. It plays nothing, so it reports no playback; how much its listener
  has buffered is estimated by assuming playback in real time from the first chunk taken (said so in
  `queued_s`).

The session owns the cancel path: it tags each request, writes its chunks in order, and at a cancel calls
`drop(tag)` before anything else."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Protocol, runtime_checkable

from ..contract import AudioArray, PlaybackEvent


@runtime_checkable
class AudioSink(Protocol):
    rate: int  # the rate chunks must be written at
    plays: bool  # True: it plays in real time and reports what it played through drain()
    events_lost: int  # playback records dropped (the record log was full): metrics would be incomplete
    callback_errors: int

    @property
    def device_name(self) -> str | None: ...

    @property
    def output_latency_s(self) -> float: ...

    def open_tag(self, tag: int) -> None:
        """A new request will write under `tag` (tags are recycled: a dropped tag comes alive again)."""

    def write(self, tag: int, chunk_index: int, audio: AudioArray, last: bool,
              should_stop: threading.Event | None = None) -> int | None:
        """Queue a chunk; may block while the sink is full. Returns when it became playable (perf_counter_ns)
        or None if the request was dropped or `should_stop` was set meanwhile."""

    def drop(self, tag: int) -> int:
        """Drop everything of `tag` now (a cancel; not a request's `flush`, which speaks what was fed);
        returns a sequence number the playback records acknowledge."""

    def queued_s(self) -> float:
        """Seconds of audio queued ahead of the listener now."""

    def drain(self) -> list[PlaybackEvent]:
        """The playback records since the last call (always empty for a sink that does not play)."""


class StreamSink:
    """Chunks queued for a consumer (`take`), at most `max_unsent` at a time: a slow consumer makes the
    producer wait, so it holds a few chunks, not a whole text's audio."""

    plays = False

    def __init__(self, rate: int, max_unsent: int = 16, name: str = "stream") -> None:
        self.rate = rate
        self.name = name
        self.events_lost = 0
        self.callback_errors = 0
        self._items: deque[tuple[int, int, AudioArray, bool]] = deque()
        self._cond = threading.Condition()
        self._max = max_unsent
        self._dead: set[int] = set()
        self._drops = 0
        self._taken_s = 0.0  # audio handed to the consumer
        self._t_first: float | None = None  # when the first chunk was taken
        self._closed = False

    @property
    def device_name(self) -> str | None:
        return None

    @property
    def output_latency_s(self) -> float:
        return 0.0

    def open_tag(self, tag: int) -> None:
        with self._cond:
            self._dead.discard(tag)

    def write(self, tag: int, chunk_index: int, audio: AudioArray, last: bool,
              should_stop: threading.Event | None = None) -> int | None:
        with self._cond:
            while len(self._items) >= self._max:
                if tag in self._dead or self._closed or (should_stop is not None and should_stop.is_set()):
                    return None
                self._cond.wait(0.05)
            if tag in self._dead or self._closed or (should_stop is not None and should_stop.is_set()):
                return None
            t = time.perf_counter_ns()
            self._items.append((tag, chunk_index, audio, last))
            self._cond.notify_all()
            return t

    def drop(self, tag: int) -> int:
        with self._cond:
            self._dead.add(tag)
            self._items = deque(i for i in self._items if i[0] != tag)
            self._drops += 1
            self._cond.notify_all()
            return self._drops

    def take(self, timeout: float | None = None) -> tuple[int, int, AudioArray, bool] | None:
        """The next chunk (tag, index, audio, last), or None if none came within `timeout` or the sink closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items:
                if self._closed:
                    return None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left if left is not None else 0.1)
            item = self._items.popleft()
            if self._t_first is None:
                self._t_first = time.perf_counter()
            self._taken_s += len(item[2]) / self.rate
            self._cond.notify_all()
            return item

    def queued_s(self) -> float:
        # Estimated, not observed: a streaming consumer plays in real time from the first chunk on, so what it
        # took and has not played yet is what it has buffered (for a consumer that saves, this is conservative).
        with self._cond:
            waiting = sum(len(i[2]) for i in self._items) / self.rate
            if self._t_first is None:
                return waiting
            return waiting + max(0.0, self._taken_s - (time.perf_counter() - self._t_first))

    def drain(self) -> list[PlaybackEvent]:
        return []

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
