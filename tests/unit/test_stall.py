"""A stream that stops calling back (a JACK client in a PipeWire graph did this to an ALSA stream for 11.6 s,
docs/measurements.md) fails the live request with a message saying what happened and what to do, and the next
request opens a new stream and plays. The software-clock player stalls on demand, so this runs on the fast lane."""

from __future__ import annotations

import time

from voicetrace.contract import Failed, Play
from voicetrace.core.session import Session
from voicetrace.desk.core import DeskCore
from voicetrace.testing.fakes import FakeCost, VirtualPlayer, fake_source

TEXT = "A sentence long enough to be playing when its stream stops calling back, and then some more words."
DEADLINE_S = 30.0  # generous: the check is that the failure comes at all, not how fast


def _wait_playing(req) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not any(isinstance(e, Play) and e.n > 0 for e in req.trace.events):
        assert time.monotonic() < deadline, "the request never started playing"
        time.sleep(0.01)


def test_a_stalled_stream_fails_the_request_with_a_clear_message_and_the_next_request_plays(device):
    src = fake_source(FakeCost(audio_s_per_char=0.05))
    stalls: list[str] = []
    session = Session(device, {"fake": src}, on_stall=stalls.append)
    try:
        req = session.submit(TEXT, "fake")
        _wait_playing(req)
        device.stall()
        assert req.wait(DEADLINE_S), "a stalled stream left its request hanging"
        m = session.record(req)
        assert m.outcome == "failed" and m.error is not None
        assert "stopped playing" in m.error and "no callback for" in m.error
        assert "pick another output or restart the sound server" in m.error
        assert req.trace.first(Failed) is not None
        assert stalls == [m.error]
        assert not device.running  # given up: the next request opens a new stream

        again = session.submit("Again, on a new stream.", "fake").result(timeout=DEADLINE_S)
        assert again.outcome == "done" and again.underruns == 0 and again.ttfa_audible_ms is not None
        assert device.running
    finally:
        session.close()
        src.stop()


def test_the_window_shows_the_same_message_when_its_stream_stalls(monkeypatch):
    src = fake_source(FakeCost(audio_s_per_char=0.05))
    monkeypatch.setattr("voicetrace.desk.core.Player", lambda spec: VirtualPlayer())
    core = DeskCore(engines={"fake": src})
    try:
        player = core.open_device(None)
        req = core.speak(TEXT, "fake", None, 1.0)
        _wait_playing(req)
        assert isinstance(player, VirtualPlayer)
        player.stall()
        assert req.wait(DEADLINE_S)
        assert req.outcome == "failed" and req.error is not None and "stopped playing" in req.error
        assert core.check_device() == req.error  # the banner says what the request says
    finally:
        core.close()
        src.stop()
