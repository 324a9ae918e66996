"""Speak/cancel cycles on a real output device, cancelling at every kind of moment: before the first audio,
while a phrase is being synthesised, exactly when a chunk enters the ring, while it plays, and after the end.
Checks the invariants on every cycle and reports the figures (`scripts/stress.py` runs 1 000; CI a few dozen):
one terminal outcome per request, zero samples of a cancelled request after its acknowledgement, no request
left hanging, threads and open files flat, RSS growth."""

from __future__ import annotations

import os
import random
import resource
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..contract import CancelAck, ChunkReady, Done, Failed, Play, SynthEnd, SynthStart

MOMENTS = ("before_first_audio", "during_synthesis", "at_chunk_boundary", "while_playing", "after_end")
TEXTS = ["Okay.", "Sure, one moment please.",
         "This is a longer reply, with a clause, and then another sentence. It keeps going for a while so that a "
         "cancel can land in the middle of synthesis or playback, or right at a chunk boundary."]


def rss_mb() -> float:
    """Resident set size now (not the peak), from /proc; the peak where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def open_files() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


@dataclass
class StressReport:
    cycles: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    moments: Counter[str] = field(default_factory=Counter)
    stale_samples: int = 0
    violations: list[str] = field(default_factory=list)
    threads: tuple[int, int] = (0, 0)  # before, after
    files: tuple[int, int] = (0, 0)
    rss_mb: tuple[float, float] = (0.0, 0.0)  # after warm-up, at the end
    rss_every_100: list[float] = field(default_factory=list)  # does it level off (arena) or keep growing (leak)?
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"cycles": self.cycles, "outcomes": dict(self.outcomes), "moments": dict(self.moments),
                "stale_samples": self.stale_samples, "violations": self.violations[:20],
                "threads_before_after": self.threads, "open_files_before_after": self.files,
                "rss_mb_after_warmup_and_end": self.rss_mb, "rss_mb_every_100_cycles": self.rss_every_100,
                "seconds": round(self.seconds, 1)}


def _wait_for(req: Any, pred: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred() or req.finished.is_set():
            return pred()
        time.sleep(0.0005)
    return False


def run_cycles(session: Any, engine: str, cycles: int, seed: int = 1234, warmup: int = 1) -> StressReport:
    """`warmup` full runs of the longest text first: onnxruntime's arena grows to the largest phrase once,
    so RSS measured after them shows leaks, not that growth."""
    rng = random.Random(seed)
    rep = StressReport()
    t0 = time.perf_counter()
    for n in range(warmup + cycles):
        if n == warmup:
            time.sleep(0.3)
            rep.threads = (threading.active_count(), 0)
            rep.files = (open_files(), 0)
            rep.rss_mb = (rss_mb(), 0.0)
        moment = MOMENTS[n % len(MOMENTS)] if n >= warmup else "after_end"
        if n < warmup:
            text = TEXTS[-1]
        elif moment == "after_end":
            text = rng.choice(TEXTS[:2])  # any text will do: waiting for a long one to end only costs time
        else:
            text = rng.choice(TEXTS)
        req = session.submit(text, engine)
        if moment == "during_synthesis":
            _wait_for(req, lambda r=req: len(r.trace.of(SynthStart)) > len(r.trace.of(SynthEnd)))
        elif moment == "at_chunk_boundary":
            _wait_for(req, lambda r=req: len(r.trace.of(ChunkReady)) >= 2)
        elif moment == "while_playing":
            _wait_for(req, lambda r=req: bool(r.trace.of(Play)))
            time.sleep(rng.uniform(0.0, 1.5))
        elif moment == "after_end":
            req.finished.wait(60)
        accepted = session.cancel(req.id)
        if not req.finished.wait(30):
            rep.violations.append(f"cycle {n}: request {req.id} never ended ({moment})")
            continue
        time.sleep(0.03)  # a few more callbacks: stale audio would show in the trace now
        m = session.metrics(req.id)
        terminal = [type(e).__name__ for e in req.trace.events if isinstance(e, (Done, CancelAck, Failed))]
        if len(terminal) != 1:
            rep.violations.append(f"cycle {n}: {len(terminal)} terminal events {terminal}")
        if m.stale_samples_after_cancel:
            rep.violations.append(f"cycle {n}: {m.stale_samples_after_cancel} stale samples ({moment})")
        if moment == "after_end" and accepted:
            rep.violations.append(f"cycle {n}: a cancel after the end was accepted")
        if n >= warmup:
            rep.cycles += 1
            rep.outcomes[m.outcome] += 1
            rep.moments[moment] += 1
            rep.stale_samples += m.stale_samples_after_cancel
            if rep.cycles % 100 == 0:
                rep.rss_every_100.append(rss_mb())
    time.sleep(0.3)
    rep.threads = (rep.threads[0], threading.active_count())
    rep.files = (rep.files[0], open_files())
    rep.rss_mb = (rep.rss_mb[0], rss_mb())
    rep.seconds = time.perf_counter() - t0
    return rep
