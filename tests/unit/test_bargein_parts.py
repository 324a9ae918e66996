"""The barge-in gate and run counter on synthetic signals with known answers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from voicetrace.bargein.listener import SpeechRuns, remove_echo

RATE = 24_000
HOP = 768  # 32 ms


def speechlike(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t + seed)  # syllable-rate amplitude modulation
    return (0.2 * env * np.sin(2 * np.pi * (120 + 40 * seed) * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 6000), st.floats(0.05, 1.0), st.integers(0, 1400))
def test_a_pure_echo_is_explained_at_any_delay_and_gain(delay: int, gain: float, lead: int) -> None:
    """mic = gain × what was played `delay` frames ago: the gate finds it and leaves (almost) nothing."""
    max_delay = 6000
    played = speechlike(max_delay + HOP + lead + 2000, 1)
    mic_start = max_delay + 1000  # the mic frame's first sample heard the reference's sample mic_start - delay
    mic = gain * played[mic_start - delay:mic_start - delay + HOP]
    ref = played[mic_start - max_delay:mic_start + HOP + lead]
    residual, share = remove_echo(mic, ref, lead)
    assert share > 0.99
    assert np.sqrt(np.mean(residual ** 2)) < 0.01 * np.sqrt(np.mean(mic ** 2)) + 1e-7


def test_the_user_talking_over_the_echo_stays_in_the_residual() -> None:
    played = speechlike(10_000, 1)
    user = speechlike(HOP, 5)
    echo = 0.5 * played[3000:3000 + HOP]
    residual, share = remove_echo(echo + user, played[:3000 + HOP + 500], 500)
    assert share < 0.7  # the gate must not call this frame the app's own voice
    # what is left is the user: correlated with the user's signal, at the user's level
    assert np.corrcoef(residual, user)[0, 1] > 0.9
    assert remove_echo(user, None, 0) == (user, 0.0)  # speakers silent: nothing to remove


def test_speech_runs_trigger_once_and_count_short_bursts_and_echo() -> None:
    runs = SpeechRuns(frames_needed=3, gap_frames=3)
    pattern = [True, True, False, True, False, False, False, True, True, False, True, True, True, True]
    fired = [runs.push(s, False, k) for k, s in enumerate(pattern)]
    assert fired == [False] * 12 + [True, False]
    # the run that triggered started at frame 10, but its utterance at frame 7 (after 3 quiet frames)
    assert runs.utterance_start_ns == 7
    assert runs.short_runs == 3
    for k in range(7):
        runs.push(False, True, 100 + k)
    assert runs.echo_runs == 1  # one stretch of the app's own voice long enough to have triggered
