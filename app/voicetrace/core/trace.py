"""Per-request trace: timestamped events on one clock (perf_counter_ns). Metrics derive only from these."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, TextIO

from ..contract import Ev, TraceEvent


def now_ns() -> int:
    return time.perf_counter_ns()


class Trace:
    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self._events: list[TraceEvent] = []
        self._lock = threading.Lock()

    def add(self, kind: Ev, t_ns: int | None = None, **data: Any) -> TraceEvent:
        ev = TraceEvent(kind, now_ns() if t_ns is None else t_ns, self.request_id, data)
        with self._lock:
            self._events.append(ev)
        return ev

    @property
    def events(self) -> list[TraceEvent]:
        with self._lock:
            return list(self._events)

    def of(self, kind: Ev) -> list[TraceEvent]:
        return [e for e in self.events if e.kind == kind]

    def first(self, kind: Ev) -> TraceEvent | None:
        for e in self.events:
            if e.kind == kind:
                return e
        return None

    def write_jsonl(self, fh: TextIO) -> None:
        for e in self.events:
            fh.write(json.dumps({"kind": e.kind.value, "t_ns": e.t_ns, "request_id": e.request_id, **e.data},
                                default=str) + "\n")
