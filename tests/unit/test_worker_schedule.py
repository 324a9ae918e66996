"""The worker's scheduling with a stand-in engine (no model): earliest deadline first across streams (FIFO
within equal deadlines, or throughout as the baseline), cancelled jobs skipped, and the share count the
planner divides the engine by."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from voicetrace.core.worker import EngineWorker, Job
from voicetrace.engines.base import SynthResult


class GateEngine:
    """Synthesises instantly, except that each run waits for the test to open the gate."""

    name = "gate"
    default_voice = "v"

    def __init__(self) -> None:
        self.gate = threading.Semaphore(0)
        self.ran: list[str] = []

    def load(self) -> None: ...
    def warm(self) -> None: ...
    def clear_cancel(self) -> None: ...
    def cancel(self) -> None: ...

    def synthesize(self, text: str, voice: str, speed: float, use_cache: bool = True) -> SynthResult:
        if text != "This is a warm-up sentence for the voice.":
            self.gate.acquire()
            self.ran.append(text)
        return SynthResult(np.zeros(2400, np.float32), 24_000, 1_000_000)

    def synthesize_pieces(self, text: str, voice: str, speed: float, use_cache: bool = True, **_: object):
        yield self.synthesize(text, voice, speed, use_cache)


def job(rid: str, text: str, deadline: int, done: list) -> Job:
    return Job(rid, 0, text, "v", 1.0, lambda t: None, lambda r, e, t: done.append(text), deadline_ns=deadline)


@pytest.mark.parametrize(("schedule", "order"), [("deadline", ["busy", "early", "also early", "late"]),
                                                 ("fifo", ["busy", "late", "early", "also early"])])
def test_schedule_order_and_cancelled_jobs_never_run(schedule, order):
    eng = GateEngine()
    w = EngineWorker(eng, schedule).start()  # type: ignore[arg-type]
    w.wait_ready(5)
    done: list[str] = []
    w.submit(job("a", "busy", 1, done))  # takes the engine; the rest queue behind it
    time.sleep(0.05)
    w.submit(job("b", "late", 5_000, done))
    w.submit(job("c", "early", 2_000, done))
    w.submit(job("d", "cancelled", 1_000, done))
    w.submit(job("e", "also early", 2_000, done))
    w.cancel("d", lambda t: None)
    for _ in range(4):
        eng.gate.release()
    deadline = time.monotonic() + 5
    while len(done) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    w.stop()
    assert eng.ran == order
    assert "cancelled" not in done
    assert w.is_idle()


def test_share_count_counts_streams_in_progress():
    eng = GateEngine()
    w = EngineWorker(eng)  # type: ignore[arg-type]
    assert w.share_count() == 1  # never below one: a lone stream has the whole engine
    w._streams = 3
    assert w.share_count() == 3
    assert EngineWorker(eng, "fifo").share_count() == 1  # type: ignore[arg-type]  # the baseline plans alone
