"""The session's logic on the fast lane: a fake engine (text → chosen compute time and audio length) and the
real player on a software clock, so cancel, stale samples, cadence and underruns are checked exactly, with no
ONNX model and no audio device. The same paths run on the real engines and JACK in tests/integration."""

from __future__ import annotations

import time

import numpy as np
import pytest

from voicetrace.contract import CancelAck, Play
from voicetrace.core.session import Session
from voicetrace.core.sink import StreamSink
from voicetrace.core.stream import Stream
from voicetrace.errors import UserError
from voicetrace.testing.fakes import FakeCost, fake_source

TEXT = ("First a short phrase, then a longer sentence follows it. And a third one, so that the planner has "
        "several phrases to pipeline while the first ones play.")


def _session(device, cost: FakeCost | None = None, **kw):
    src = fake_source(cost, **kw)
    return Session(device, {"fake": src}), src


def test_fast_request_plays_whole_in_pipelined_chunks_with_no_underrun(device):
    session, src = _session(device)
    src.engine.runs.clear()  # type: ignore[attr-defined]  # the warm-up's runs
    try:
        m = session.submit(TEXT, "fake").result(timeout=30)
    finally:
        session.close()
        src.stop()
    assert m.outcome == "done" and m.underruns == 0
    assert len(m.chunks) >= 3 and m.ttfa_callback_ms is not None and m.ttfa_audible_ms is not None
    assert m.ttfa_audible_ms > m.ttfa_callback_ms  # the software device adds its 20 ms of latency
    # every later chunk entered the sink before the listener needed it (pipelining)
    assert all(c.slack_ms is not None and c.slack_ms > 0 for c in m.chunks[1:])
    assert " ".join(src.engine.runs) == TEXT  # type: ignore[attr-defined]  # each word once, in order


def test_synthesis_slower_than_real_time_is_counted_as_underruns(device):
    session, src = _session(device, FakeCost(rtf=1.6))
    try:
        m = session.submit(TEXT, "fake").result(timeout=60)
    finally:
        session.close()
        src.stop()
    assert m.outcome == "done"
    assert m.underruns > 0 and m.underrun_ms > 0


@pytest.mark.parametrize("after_s", [0.0, 0.05, 0.6])  # before first audio, during the first run, playing
def test_cancel_leaves_no_stale_samples_and_frees_the_engine(device, after_s):
    session, src = _session(device, FakeCost(rtf=0.3))
    try:
        req = session.submit(TEXT, "fake")
        time.sleep(after_s)
        assert req.cancel()
        m = req.result(timeout=10)
        nxt = session.submit("The next one plays.", "fake").result(timeout=10)
    finally:
        session.close()
        src.stop()
    assert m.outcome == "cancelled" and m.stale_samples_after_cancel == 0
    assert m.cancel_to_silence_ms is not None and m.cancel_to_idle_ms is not None
    assert nxt.outcome == "done"
    ack = req.trace.first(CancelAck)
    assert ack is not None
    assert not any(e.n and e.t_ns > ack.t_ns for e in req.trace.of(Play))


def test_cancel_aborts_the_run_in_flight(device):
    session, src = _session(device, FakeCost(fixed_s=5.0))  # every run would take 5 s
    try:
        req = session.submit(TEXT, "fake")
        time.sleep(0.2)
        req.cancel()
        m = req.result(timeout=3)  # a hang bound, not a timing: without the abort this waits for the run
    finally:
        session.close()
        src.stop()
    assert m.outcome == "cancelled"


def test_a_failing_run_fails_its_request_and_the_next_one_plays(device):
    session, src = _session(device, fail_on="longer")
    try:
        bad = session.submit(TEXT, "fake").result(timeout=30)
        good = session.submit("Short and fine.", "fake").result(timeout=30)
    finally:
        session.close()
        src.stop()
    assert bad.outcome == "failed" and "fake fault" in (bad.error or "")
    assert good.outcome == "done"


def test_a_sink_that_does_not_play_reports_no_playback_figures():
    src = fake_source()
    sink = StreamSink(16_000)
    session = Session(sink, {"fake": src})
    try:
        req = session.submit(TEXT, "fake")
        got = []
        while (item := sink.take(timeout=10)) is not None:
            got.append(item)
            if item[3]:
                break
        m = req.result(timeout=10)
    finally:
        session.close()
        src.stop()
    assert m.outcome == "done" and m.first_chunk_ms is not None
    assert m.ttfa_callback_ms is None and m.ttfa_audible_ms is None  # nothing was played: not measured
    assert [i[1] for i in got] == list(range(len(got)))
    assert sum(len(i[2]) for i in got) / 16_000 == pytest.approx(m.audio_ms / 1000, rel=0.2)


def test_stream_iterates_resampled_chunks_and_stops_after_cancel():
    src = fake_source()
    try:
        chunks = list(Stream(src, "Hello there, from a fake engine.", sample_rate=16_000))
        assert chunks[-1].is_final and not any(c.is_final for c in chunks[:-1])
        assert all(c.sample_rate == 16_000 and c.audio.dtype == np.float32 for c in chunks)
        long = Stream(src, TEXT * 4)
        first = next(long)
        assert first.chunk_index == 0
        long.cancel()
        assert list(long) == []  # once cancel() returned, nothing more
        m = long.metrics()
        assert m.outcome == "cancelled" and m.stale_samples_after_cancel == 0
        with pytest.raises(UserError, match="no text"):
            Stream(src, "   ")
    finally:
        src.stop()
