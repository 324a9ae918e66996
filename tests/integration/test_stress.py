"""Speak/cancel cycles on the real device, cancelling before the first audio, during a synthesis, at a chunk
boundary, while playing and after the end: one outcome per request, no stale sample after any cancel
acknowledgement, nothing left hanging, threads and open files flat, RSS growth reported.
VOICETRACE_STRESS_CYCLES sets the count (CI runs 30; `scripts/stress.py --cycles 1000` for the long run)."""

from __future__ import annotations

import os

import pytest

from voicetrace.core.session import Session
from voicetrace.testing.stress import run_cycles

pytestmark = [pytest.mark.audio, pytest.mark.models]

CYCLES = int(os.environ.get("VOICETRACE_STRESS_CYCLES", "30"))


@pytest.mark.parametrize("engine", ["piper", "kokoro"])
def test_speak_cancel_cycles_keep_every_invariant(player, piper_source, kokoro_source, engine):
    session = Session(player, {"piper": piper_source, "kokoro": kokoro_source})
    try:
        rep = run_cycles(session, engine, CYCLES if engine == "piper" else max(10, CYCLES // 3))
    finally:
        session.close()
    print(rep.as_dict())
    assert rep.violations == []
    assert rep.stale_samples == 0
    assert set(rep.moments) == {"before_first_audio", "during_synthesis", "at_chunk_boundary", "while_playing",
                                "after_end"}
    assert rep.outcomes["cancelled"] > 0 and rep.outcomes["done"] > 0  # the after-end cycles finished first
    assert sum(rep.outcomes.values()) == rep.cycles
    assert rep.threads[1] <= rep.threads[0]  # feeder threads ended; the pump is joined by close()
    assert rep.files[1] <= rep.files[0]
    # A leak guard, not a memory target: onnxruntime's arena is grown during the warm-up cycles.
    assert rep.rss_mb[1] - rep.rss_mb[0] < 100, rep.rss_mb
