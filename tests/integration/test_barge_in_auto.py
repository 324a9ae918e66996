"""Barge-in by voice with the default settings (`auto`, issue 27), on the JACK device: the listener finds out
whether the microphone hears the app. A headset's microphone (our JACK client plays only the user's line, or only
noise, into the app's capture port: nothing of the app's output comes back) → the VAD reads the microphone and
barge-in is armed at once; loudspeakers in a room → AEC3, and the app never interrupts itself."""

from __future__ import annotations

import numpy as np
import pytest

from voicetrace.bargein.listener import AEC_WARMUP_S
from voicetrace.testing.listen import speak_listened
from voicetrace.testing.room import cough_and_knocks, fan_noise, room_ir, typing

pytestmark = [pytest.mark.audio, pytest.mark.models]

PARAGRAPH = ("The history of the lighthouse begins with fires lit on hills to guide ships home at night. Later, "
             "towers carried lamps and mirrors, and the keepers who tended them lived beside the sea for months at "
             "a time. Today most lights are automatic, yet many towers still stand as museums along the coast.")
RATE = 24_000


def _speak(player, source, model="piper", user=None, at_s=1.0, speak_s=None, room=None, background=None,
           switch=None):
    """The paragraph with the default barge-in settings on a fresh listener (`testing.listen.speak_listened`)."""
    return speak_listened(player, source, PARAGRAPH, model=model, user=user, at_s=at_s, speak_s=speak_s, room=room,
                          background=background, switch=switch)


@pytest.mark.parametrize("at_s", [0.6, 3.0])
def test_a_headset_microphone_with_the_defaults_the_user_interrupts(jack, player, piper_source, user_line, at_s):
    """The user's line in the microphone (a headset: its noise floor, the user, nothing of the app), the
    defaults: it interrupts, a line that starts in the first second of the app's speech too; the listener said why
    it read the microphone and that it armed early."""
    m, injected, t0 = _speak(player, piper_source, user=user_line, at_s=at_s, background=fan_noise(12.0, RATE, -55.0))
    b = m.barge_in
    assert m.outcome == "cancelled" and b.trigger_ms is not None and m.stale_samples_after_cancel == 0, b
    assert b.route == "direct" and "does not hear the app" in b.route_reason, b
    assert b.armed_ms is not None and b.armed_ms < AEC_WARMUP_S * 1000, b  # not a timing: the early rule armed it
    assert b.erle_db is None  # no canceller's figure for a microphone read as it is
    err_ms = (t0 + b.true_onset_ms * 1e6 - injected) / 1e6  # the same event on two clocks: not a timing
    said = (err_ms, b.route, b.route_changes, b.armed_ms, b.route_reason, b)  # what it decided, first
    assert abs(err_ms) < 100, said
    assert b.route_changes == 0, said


def test_a_headset_microphone_with_the_defaults_kokoro_is_interrupted_in_its_first_second(jack, player, kokoro_source,
                                                                                          user_line):
    """The same with Kokoro as the app's voice (its synthesis shares the cores with the listener), the line 0.8 s
    into its speech."""
    m, injected, t0 = _speak(player, kokoro_source, model="kokoro", user=user_line, at_s=0.8,
                             background=fan_noise(12.0, RATE, -55.0))
    b = m.barge_in
    assert m.outcome == "cancelled" and b.trigger_ms is not None and m.stale_samples_after_cancel == 0, b
    assert b.route == "direct" and b.route_changes == 0, b
    assert abs((t0 + b.true_onset_ms * 1e6 - injected) / 1e6) < 100, b  # the same event on two clocks


def test_a_silent_headset_microphone_the_first_word_is_not_lost(jack, player, piper_source, user_line):
    """A microphone that is digitally silent but for the user's line (a gated one): the line's first syllable must
    not make the listener think it hears the app (then AEC3's suppressor held "Wait," back: reported 0.5 s late)."""
    m, injected, t0 = _speak(player, piper_source, user=user_line, at_s=2.0, background=None)
    b = m.barge_in
    assert m.outcome == "cancelled" and b.route == "direct" and b.route_changes == 0, b
    assert abs((t0 + b.true_onset_ms * 1e6 - injected) / 1e6) < 100, b


def test_a_headset_microphone_hearing_only_noise_never_triggers(jack, player, piper_source):
    """A fan and typing in the microphone, a cough and two knocks 2 s in, nobody talking, the defaults: read
    directly, never interrupted."""
    noise = fan_noise(12.0, RATE, -45.0) + typing(12.0, RATE)
    cough = cough_and_knocks(np.random.default_rng(5), RATE)
    m, _, _ = _speak(player, piper_source, background=noise, user=(cough, 0), at_s=2.0, speak_s=8.0)
    b = m.barge_in
    assert b.trigger_ms is None and b.route == "direct", b


@pytest.mark.parametrize("rt60", [0.3, 0.5, 0.8])
def test_speakers_in_a_room_with_the_defaults_never_interrupt_themselves(jack, player, piper_source, rt60):
    """A fan, nobody talking, a fresh listener with the defaults: AEC3, chosen because the microphone hears the app,
    and the paragraph is spoken to its end — in a dry, a middling and a reverberant room."""
    m, _, _ = _speak(player, piper_source, room=room_ir(RATE, rt60), background=fan_noise(12.0, RATE, -50.0))
    b = m.barge_in
    assert m.outcome == "done" and b.trigger_ms is None, b
    assert b.route == "aec3" and "hears the app" in b.route_reason, b
    assert b.erle_db is not None and b.erle_db >= 10, b  # the echo was there and taken out (the gate: ~3 dB)


def test_a_headset_unplugged_mid_paragraph_the_app_does_not_interrupt_itself(jack, player, piper_source):
    """3 s into the paragraph the speakers begin to be heard (RT60 0.5 s, a fan): the microphone hears the app
    before the route can turn to AEC3 — a trigger the far end explains is held back — then AEC3, and no
    self-interruption (before the hold: 3 of 3 live runs interrupted themselves)."""
    m, _, _ = _speak(player, piper_source, switch=(3.0, room_ir(RATE, 0.5)), speak_s=8.0,
                     background=fan_noise(12.0, RATE, -50.0))
    b = m.barge_in
    assert b.trigger_ms is None and m.outcome == "cancelled", b  # spoken until the button, 8 s after the switch
    assert b.route == "aec3" and b.route_changes == 1, b


def test_a_headset_plugged_in_mid_paragraph_the_next_line_interrupts(jack, player, piper_source, user_line):
    """Speakers in a room until 3 s in, then a headset (the echo disappears): the route turns direct, and the
    user's line 3.5 s later interrupts."""
    m, _, _ = _speak(player, piper_source, room=room_ir(RATE, 0.5), switch=(3.0, None), user=user_line, at_s=6.5,
                     background=fan_noise(12.0, RATE, -50.0))
    b = m.barge_in
    assert m.outcome == "cancelled" and b.trigger_ms is not None and m.stale_samples_after_cancel == 0, b
    assert b.route == "direct" and b.route_changes == 1, b
