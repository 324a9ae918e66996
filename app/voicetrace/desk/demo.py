"""Barge-in demo: speak a paragraph, interrupt it at a random moment, N times in a row, then report the
distribution of both cancel latencies and the stale samples (which must be 0). Runs on its own thread;
the window (or a test) watches `progress` and reads `result`."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from ..contract import RequestMetrics
from ..core.report import distribution
from ..core.trace import now_ns
from .core import DeskCore

# Long enough (about 25 s) that any interrupt time a demo asks for lands while it speaks.
DEMO_PARAGRAPH = (
    "Latency in a voice agent is a matter of architecture, not luck. The first sound should come while "
    "the rest of the sentence is still being made, so the first chunk is short, and every later chunk is "
    "sized to arrive before the one playing runs out. When a person starts talking over the machine, it "
    "has to fall silent at once: the audio already queued is faded out and thrown away, and the model "
    "stops working on words nobody will hear. Watch the graphs while this paragraph is interrupted: the "
    "time to silence and the time until the engine is idle are measured on every single attempt.")


@dataclass
class DemoConfig:
    text: str
    engine: str
    voice: str | None = None
    speed: float = 1.0
    rounds: int = 10
    min_s: float = 1.0  # interrupt this long after submit at the earliest ...
    max_s: float = 3.0  # ... and at the latest
    seed: int | None = None

    def check(self) -> None:
        if not 1 <= self.rounds <= 1000:
            raise ValueError("rounds must be 1 to 1000")
        if not 0 <= self.min_s <= self.max_s <= 600:
            raise ValueError("interrupt bounds must satisfy 0 ≤ min ≤ max ≤ 600 s")


@dataclass
class DemoResult:
    rounds: int = 0
    interrupted: int = 0  # rounds that were still speaking when the interrupt came
    finished_early: int = 0  # rounds whose paragraph ended before the interrupt time
    failed: list[str] = field(default_factory=list)
    cancel_to_silence: dict[str, Any] = field(default_factory=dict)
    cancel_to_idle: dict[str, Any] = field(default_factory=dict)
    stale_samples: int = 0
    records: list[RequestMetrics] = field(default_factory=list)


class BargeInDemo:
    def __init__(self, core: DeskCore, config: DemoConfig) -> None:
        config.check()
        self.core = core
        self.cfg = config
        self.done_rounds = 0
        self.result: DemoResult | None = None
        self.error: str | None = None
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="barge-in-demo", daemon=True)

    def start(self) -> BargeInDemo:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _main(self) -> None:
        try:
            self.result = self._run()
        except Exception as exc:  # shown in the window; the app keeps working
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.finished.set()

    def _run(self) -> DemoResult:
        rng = random.Random(self.cfg.seed)
        records: list[RequestMetrics] = []
        res = DemoResult()
        for _ in range(self.cfg.rounds):
            if self._stop.is_set():
                break
            at_s = rng.uniform(self.cfg.min_s, self.cfg.max_s)
            req = self.core.speak(self.cfg.text, self.cfg.engine, self.cfg.voice, self.cfg.speed)
            t_submit = req.t_submit_ns
            remaining = (t_submit + int(at_s * 1e9) - now_ns()) / 1e9
            if not req.finished.wait(max(0.0, remaining)):
                self.core.interrupt()
            req.finished.wait(30)
            rec = self.core.record_of(req.id, timeout=10, poll=self.core.poll_finished)
            if rec is None:
                raise RuntimeError(f"request {req.id} left no record")
            records.append(rec)
            self.done_rounds += 1
            self._stop.wait(0.3)  # a breath between rounds, as a person would leave
        res.rounds = len(records)
        res.records = records
        res.interrupted = sum(1 for r in records if r.outcome == "cancelled")
        res.finished_early = sum(1 for r in records if r.outcome == "done")
        res.failed = [r.error or "" for r in records if r.outcome == "failed"]
        res.cancel_to_silence = distribution(r.cancel_to_silence_ms for r in records)
        res.cancel_to_idle = distribution(r.cancel_to_idle_ms for r in records)
        res.stale_samples = sum(r.stale_samples_after_cancel for r in records if r.cancelled)
        return res
