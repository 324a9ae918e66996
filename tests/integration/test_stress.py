"""Speak/cancel cycles at random moments on the real device: every request ends in exactly one outcome,
no sample of a cancelled request plays after its acknowledgement, no thread is left behind.
VOICETRACE_STRESS_CYCLES sets the count (CI runs a few dozen; run 1000 by hand)."""

from __future__ import annotations

import os
import random
import threading
import time

import pytest

from voicetrace.contract import Ev
from voicetrace.session import Session

pytestmark = [pytest.mark.audio, pytest.mark.models]

CYCLES = int(os.environ.get("VOICETRACE_STRESS_CYCLES", "30"))
TEXTS = ["Okay.", "Sure, one moment please.", "This is a longer reply, with a clause, and then another sentence. "
         "It keeps going for a while so that a cancel can land in the middle of synthesis or playback."]


def test_random_speak_cancel_cycles_leave_no_stale_audio(player, piper_worker):
    rng = random.Random(1234)
    session = Session(player, {"piper": piper_worker})
    threads_before = threading.active_count()
    outcomes: dict[str, int] = {}
    try:
        for _ in range(CYCLES):
            req = session.submit(rng.choice(TEXTS), "piper")
            time.sleep(rng.choice([0.0, 0.001, rng.uniform(0.01, 0.3), rng.uniform(0.3, 2.0)]))
            session.cancel(req.id)
            assert req.finished.wait(30), "request never ended"
            time.sleep(0.03)  # let a few more callbacks run: stale audio would show up now
            m = session.metrics(req.id)
            terminal = [e.kind for e in req.trace.events if e.kind in (Ev.DONE, Ev.CANCEL_ACK, Ev.FAILED)]
            assert len(terminal) == 1, terminal
            assert m.stale_samples_after_cancel == 0
            assert m.outcome in ("done", "cancelled")
            outcomes[m.outcome] = outcomes.get(m.outcome, 0) + 1
    finally:
        session.close()
    time.sleep(0.2)
    assert threading.active_count() <= threads_before  # feeders ended; the pump was joined by close()
    assert outcomes.get("cancelled", 0) > 0
