"""Pause / resume on the real player (software clock) and the real pipeline: the callback plays silence while
paused and keeps the ring, so nothing is lost and nothing counts as an underrun; the record says how long it was
paused; a cancel while paused leaves no stale sample; synthesis stops reading ahead while paused; a sink that
does not play refuses to pause."""

from __future__ import annotations

import time

import numpy as np
import pytest

from voicetrace.contract import ChunkReady, Pause, Play, SynthEnd
from voicetrace.core import session as session_mod
from voicetrace.core.session import Session
from voicetrace.core.sink import StreamSink
from voicetrace.core.timeline import build
from voicetrace.errors import UserError
from voicetrace.testing.fakes import FakeCost, fake_source

TEXT = ("A first sentence to pause in. A second one that waits in the ring while the listener holds it. "
        "And a third, so the pipeline has phrases left to make.")


def _played(req) -> int:
    return sum(e.n for e in req.trace.of(Play))


def _until(cond, timeout: float = 10.0) -> None:
    t = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < t, "timed out"
        time.sleep(0.005)


@pytest.fixture()
def fake():
    src = fake_source(FakeCost(rtf=0.1))
    yield src
    src.stop()


def test_pause_then_resume_loses_nothing_and_counts_no_underrun(device, fake):
    session = Session(device, {"fake": fake})
    try:
        req = session.submit(TEXT, "fake")
        _until(lambda: _played(req) > device.rate // 2)  # half a second in
        assert session.pause() and session.paused
        _until(lambda: req.trace.first(Pause) is not None)
        sent_at_pause = len(device.sent)
        played = _played(req)
        t0 = time.monotonic()
        time.sleep(0.6)
        held_ms = (time.monotonic() - t0) * 1000
        assert _played(req) == played  # nothing of it was read while paused
        tl = build(req.trace.events)
        assert tl is not None and tl.paused_at_ms is not None  # the window shows where it stopped
        now_ms = (time.perf_counter_ns() - tl.t0_ns) / 1e6
        assert tl.listener_at(now_ms) < tl.paused_at_ms < now_ms
        silent = device.sent[sent_at_pause + 1:]  # the blocks after the fade
        assert silent and all(not np.any(b) for b in silent)
        assert session.resume() and not session.paused
        m = req.result(timeout=30)
    finally:
        session.close()
    assert build(req.trace.events).paused_at_ms is None  # resumed
    assert m.outcome == "done" and m.underruns == 0 and m.pauses == 1
    assert m.paused_ms >= 0.9 * held_ms  # the DAC stamps of the first silent and first resumed frames
    made = sum(e.samples for e in req.trace.of(ChunkReady))
    assert _played(req) == made  # every sample made was played, after the pause too


def test_cancel_while_paused_leaves_no_stale_sample_and_the_next_request_plays(device, fake):
    session = Session(device, {"fake": fake})
    try:
        req = session.submit(TEXT, "fake")
        _until(lambda: _played(req) > device.rate // 4)
        session.pause()
        _until(lambda: req.trace.first(Pause) is not None)
        time.sleep(0.2)
        assert req.cancel()
        m = req.result(timeout=10)
        assert m.outcome == "cancelled" and m.stale_samples_after_cancel == 0 and m.pauses == 1
        assert m.paused_ms > 0 and m.cancel_to_silence_ms is not None
        # nothing of it played after the pause began (no fade after the pause: it was silent already)
        t_pause = req.trace.first(Pause).t_ns
        assert all(e.t_ns < t_pause or e.n == 0 for e in req.trace.of(Play))
        nxt = session.submit("The next request is heard.", "fake")  # a new request resumes the output
        m2 = nxt.result(timeout=10)
        assert not session.paused and m2.outcome == "done" and m2.ttfa_audible_ms is not None
    finally:
        session.close()


def test_synthesis_stops_reading_ahead_while_paused(device, fake, monkeypatch):
    monkeypatch.setattr(session_mod, "READ_AHEAD_S", 1.0)
    session = Session(device, {"fake": fake})
    long = " ".join(f"Sentence number {i} goes on for a while." for i in range(40))  # ~30 s of fake audio
    try:
        req = session.submit(long, "fake")
        _until(lambda: _played(req) > device.rate // 4)
        session.pause()
        _until(lambda: len(req.trace.of(SynthEnd)) >= 1)
        time.sleep(0.5)  # it fills up to the limit (one phrase more at most), then waits
        made = len(req.trace.of(SynthEnd))
        time.sleep(0.8)
        assert len(req.trace.of(SynthEnd)) == made  # nothing more made while paused
        assert made < 20  # far from the 40 sentences (without the limit all are made in ~3 s)
        queued = device.queued_s()
        assert queued < 1.0 + 2 * 40 * 0.02 + 0.5  # the limit plus a phrase or so
        session.resume()
        _until(lambda: len(req.trace.of(SynthEnd)) > made)  # reading ahead again
        assert req.cancel()
        assert req.result(timeout=10).stale_samples_after_cancel == 0
    finally:
        session.close()


def test_a_sink_that_does_not_play_cannot_pause(fake):
    session = Session(StreamSink(24_000), {"fake": fake})
    try:
        with pytest.raises(UserError, match="does not play"):
            session.pause()
    finally:
        session.close()


def test_pause_with_nothing_live_says_so(device, fake):
    session = Session(device, {"fake": fake})
    try:
        assert session.pause() is False and not session.paused
        assert session.resume() is False
    finally:
        session.close()
