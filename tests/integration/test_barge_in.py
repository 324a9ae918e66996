"""Voice barge-in on the virtual JACK device: a test JACK client plays a known speech recording into VoiceTrace's
capture port at a known frame (and/or feeds the app's own output back like a speaker would) while it speaks.
On this clean echo path (one tap) the single-tap gate is tested; AEC3 here on the same tap, and in a reverberant
room in test_barge_in_room.py."""

from __future__ import annotations

import time

import numpy as np
import pytest

from voicetrace.bargein.listener import BargeInConfig, VoiceBargeIn
from voicetrace.contract import Play, Submit
from voicetrace.core.session import Session

pytestmark = [pytest.mark.audio, pytest.mark.models]

LONG = ("The history of the lighthouse begins with fires lit on hills to guide ships home at night. Later, towers "
        "carried lamps and mirrors, and the keepers who tended them lived beside the sea for months at a time. "
        "Today most lights are automatic, yet many towers still stand as museums along the coast.")
USER = "Wait, stop, that is not what I asked for."


@pytest.fixture(scope="module")
def user_speech(kokoro_source) -> tuple[np.ndarray, int]:
    """A different voice from the app's (Kokoro jf_alpha, the app speaks Piper): 24 kHz, and its true onset."""
    kokoro_source.engine.clear_cancel()  # idle between tests; an earlier test's cancel may still be pending
    res = kokoro_source.engine.synthesize(USER, "jf_alpha", 1.0, use_cache=False)
    assert res.rate == 24_000
    audio = res.audio.astype(np.float32)
    return audio, int(np.flatnonzero(np.abs(audio) > 0.01)[0])


def speak_with_barge_in(player, piper_source, inject, *, headphones=False, speak_s=None, text=LONG,
                        canceller="gate"):
    """Speak `text` with voice barge-in on; `inject(injector, req)` plays into the microphone after the first
    audio. Returns (metrics, the injection's return value, the submit time)."""
    from voicetrace.testing.inject import Injector

    session = Session(player, {"piper": piper_source})
    current: list = []
    listening = VoiceBargeIn(player, lambda: current[0] if current else None, session.cancel,
                             config=BargeInConfig(headphones=headphones, canceller=canceller))
    try:
        with Injector(echo_gain=inject.echo_gain) as injector:
            req = session.submit(text, "piper")
            current.append(req)
            while not req.finished.wait(0.01) and not any(e.n for e in req.trace.of(Play)):
                pass
            injected = inject(injector, req)
            if speak_s is not None and not req.finished.wait(speak_s):
                session.cancel(req.id)
            assert req.finished.wait(60)
            time.sleep(0.2)
    finally:
        listening.close()
        session.close()
    return session.metrics(req.id), injected, req.trace.first(Submit).t_ns


class Inject:
    def __init__(self, clip=None, echo_gain=0.0, after_s=0.8):
        self.clip, self.echo_gain, self.after_s = clip, echo_gain, after_s

    def __call__(self, injector, req):
        return injector.play(self.clip, self.after_s) if self.clip is not None else None


def check_consistent(m, t_inject_ns, onset_frame, t0_ns, onset_within_ms=40.0, min_speech_ms=200.0):
    """The reported onsets agree with where the speech was put (not a timing: two clocks, same event)."""
    b = m.barge_in
    assert m.outcome == "cancelled" and b.trigger_ms is not None
    true_onset_ns = t0_ns + b.true_onset_ms * 1e6
    injected_onset_ns = t_inject_ns + onset_frame * 1e9 / 24_000
    # on a clean path within two JACK periods plus the capture latency of where the clip's first voiced sample
    # was put (after AEC3, whose suppressor holds back the first frames of double talk, and in a room, wider)
    err_ms = (true_onset_ns - injected_onset_ns) / 1e6
    assert abs(err_ms) < onset_within_ms, err_ms  # not a timing
    assert b.true_onset_ms <= b.speech_onset_ms + 32 <= b.trigger_ms + 32  # not a timing: order
    assert b.trigger_ms - b.speech_onset_ms >= min_speech_ms - 32  # not a timing: the minimum speech rule
    # not a timing: the parts add up (the cancel is stamped just after the trigger decided)
    assert b.onset_to_silence_ms == pytest.approx(
        b.trigger_ms - b.true_onset_ms + m.cancel_to_silence_ms, abs=20)
    assert m.stale_samples_after_cancel == 0


def test_user_speech_interrupts_and_the_onsets_match_the_injection(jack, player, piper_source, user_speech):
    clip, onset = user_speech
    m, t_inject, t0 = speak_with_barge_in(player, piper_source, Inject(clip))
    check_consistent(m, t_inject, onset, t0)


def test_the_apps_own_voice_from_the_speakers_does_not_interrupt_it(jack, player, piper_source):
    m, _, _ = speak_with_barge_in(player, piper_source, Inject(echo_gain=0.5), speak_s=4.0)
    assert m.barge_in.trigger_ms is None, m.barge_in
    assert m.barge_in.ignored.own_voice >= 1  # the gate did hold it back (it was heard, and loud)


def test_without_the_gate_its_own_voice_does_interrupt(jack, player, piper_source):
    """Headphones mode on speakers: what the gate prevents happens (so the test above can fail)."""
    m, _, _ = speak_with_barge_in(player, piper_source, Inject(echo_gain=0.5), speak_s=4.0, headphones=True)
    assert m.outcome == "cancelled" and m.barge_in.trigger_ms is not None


@pytest.mark.parametrize("canceller", ["gate", "aec3"])
def test_the_user_talking_over_the_echo_still_interrupts(jack, player, piper_source, user_speech, canceller):
    clip, onset = user_speech
    # (AEC3 listens once it has adapted on 2.5 s of the app's voice: the user talks after that)
    after = 0.8 if canceller == "gate" else 3.0
    m, t_inject, t0 = speak_with_barge_in(player, piper_source, Inject(clip, echo_gain=0.5, after_s=after),
                                          canceller=canceller)
    assert m.barge_in.canceller == canceller
    if canceller == "gate":
        check_consistent(m, t_inject, onset, t0)
    else:  # AEC3: 5 of the last 8 frames (the trigger ≥ 160 ms after the onset), the onset within 100 ms
        check_consistent(m, t_inject, onset, t0, onset_within_ms=100, min_speech_ms=192)
        assert m.barge_in.erle_db is not None


def test_cli_barge_in_voice_reports_it_in_json(jack, user_speech):
    """`voicetrace speak --barge-in voice --json` in its own process; this test talks into its microphone."""
    import json
    import os
    import subprocess
    import sys

    import jack as jackc

    from voicetrace.testing.inject import Injector

    clip, _ = user_speech
    p = subprocess.Popen([sys.executable, "-m", "voicetrace", "speak", "--engine", "piper", "--barge-in", "voice",
                          "--json", LONG + " " + LONG], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ})
    try:
        probe = jackc.Client("probe-cli", no_start_server=True)
        deadline = time.monotonic() + 60
        while not probe.get_ports(name_pattern="^PortAudio[^:]*:in", is_input=True) and time.monotonic() < deadline:
            time.sleep(0.1)
        probe.close()
        from voicetrace.testing.room import room_ir

        # speakers in a room (the default, AEC3, must not hear itself) and the user talking over it
        with Injector(room=room_ir(24_000, 0.5)) as injector:
            injector.play(clip, 8.0)  # after the engine is warm, it speaks, and AEC3 has adapted
            out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err[-2000:]
    rec = json.loads(out)
    b = rec["barge_in"]
    assert rec["outcome"] == "cancelled"
    assert set(b) >= {"speech_onset_ms", "trigger_ms", "onset_to_silence_ms", "false_triggers"}
    assert b["trigger_ms"] is not None and b["onset_to_silence_ms"] > 0 and b["canceller"] == "aec3"
    assert b["route"] == "aec3" and "hears the app" in b["route_reason"]  # auto found the echo path
    assert b["armed_ms"] is not None
    assert b["false_triggers"] == b["ignored"]["too_short"] + b["ignored"]["own_voice"]


def test_cli_without_a_microphone_says_so(jack, tmp_path):
    import os
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "voicetrace", "speak", "--engine", "piper", "--barge-in", "voice",
                        "--input-device", "no-such-microphone", "Hello."], capture_output=True, text=True,
                       timeout=120, env={**os.environ})
    assert p.returncode == 2
    assert "no input device matches 'no-such-microphone'" in p.stderr and "Choose one of: " in p.stderr
