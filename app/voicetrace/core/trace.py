"""Per-request trace: typed, frozen events on one clock (perf_counter_ns). Metrics derive only from these."""

from __future__ import annotations

import threading
import time
from typing import TypeVar

from ..contract import TraceEvent

E = TypeVar("E", bound=TraceEvent)


def now_ns() -> int:
    return time.perf_counter_ns()


class Trace:
    """Appended to by the request's threads (its source, the session's feeder and pump); read by anyone. An
    event is never changed in place: one that grows (a stretch of playback) is replaced by a new one."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self._events: list[TraceEvent] = []
        self._lock = threading.Lock()

    def add(self, ev: E) -> E:
        with self._lock:
            self._events.append(ev)
        return ev

    def replace(self, old: E, new: E) -> E:
        """Put `new` where `old` is (searched from the end: it is a recent event). `new` is appended if `old` is
        not in the trace."""
        with self._lock:
            for i in range(len(self._events) - 1, -1, -1):
                if self._events[i] is old:
                    self._events[i] = new
                    return new
            self._events.append(new)
        return new

    @property
    def events(self) -> list[TraceEvent]:
        with self._lock:
            return list(self._events)

    def of(self, kind: type[E]) -> list[E]:
        """The events of one kind, in order (filtered under the lock: the whole trace is not copied)."""
        with self._lock:
            return [e for e in self._events if isinstance(e, kind)]

    def first(self, kind: type[E]) -> E | None:
        with self._lock:
            return next((e for e in self._events if isinstance(e, kind)), None)

    def last(self) -> TraceEvent | None:
        with self._lock:
            return self._events[-1] if self._events else None
