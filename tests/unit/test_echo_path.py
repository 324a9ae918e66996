"""The echo-path detector behind barge-in's `auto` (`bargein.echopath`) on synthetic signals with known answers:
a microphone that hears the app through a room says so within a second of the app's voice, one that does not
(a headset: silence, a fan, typing, the user's own voice) says so, and the decision follows a headset plugged in
or unplugged mid-paragraph."""

from __future__ import annotations

import numpy as np
import pytest

from voicetrace.bargein.echopath import EchoPathDetector
from voicetrace.testing.room import fan_noise, room_ir, typing

R = 16_000
HOP = 512  # 32 ms, as the listener hands them over


def babble(seconds: float, seed: int) -> np.ndarray:
    """Speech-like: coloured noise in syllables of 80-300 ms with pauses between, a voice's pitch under it."""
    rng = np.random.default_rng(seed)
    n = int(seconds * R)
    env = np.zeros(n, np.float32)
    k = 0
    while k < n:
        on, off = int(rng.uniform(0.08, 0.3) * R), int(rng.uniform(0.03, 0.25) * R)
        env[k:k + on] = rng.uniform(0.3, 1.0) * np.hanning(len(env[k:k + on]))
        k += on + off
    noise = np.convolve(rng.standard_normal(n), np.ones(4) / 4, mode="same")
    t = np.arange(n) / R
    voice = np.sin(2 * np.pi * rng.uniform(100, 220) * t) + 0.5 * noise
    return (0.2 * env * voice).astype(np.float32)


def decisions(mic: np.ndarray, far: np.ndarray) -> tuple[EchoPathDetector, list[tuple[float, str | None]]]:
    det = EchoPathDetector()
    out: list[tuple[float, str | None]] = []
    for a in range(0, len(far) - HOP + 1, HOP):
        before = det.route
        det.push(mic[a:a + HOP], far[a:a + HOP])
        if det.route != before:
            out.append(((a + HOP) / R, det.route))
    return det, out


def delayed(x: np.ndarray, ms: float) -> np.ndarray:
    return np.concatenate([np.zeros(int(ms * R / 1000), np.float32), x])[:len(x)]


APP = babble(4.0, 1)


@pytest.mark.parametrize("rt60,gain,delay_ms", [(0.3, 1.0, 40), (0.5, 1.0, 60), (0.8, 0.1, 250), (0.5, 0.1, 0)])
def test_a_microphone_that_hears_the_app_through_a_room_says_so_within_a_second(rt60, gain, delay_ms) -> None:
    echo = delayed(np.convolve(APP, room_ir(R, rt60))[:len(APP)] * gain, delay_ms)
    det, seen = decisions(echo + fan_noise(4.0, R, -50.0), APP)
    assert seen[0][1] == "aec3" and seen[0][0] <= 1.1, seen  # enough of the app's voice, and two looks 0.1 s apart
    assert det.changes == 0 and det.route == "aec3"
    assert "hears the app" in det.reason


@pytest.mark.parametrize("what", ["silence", "fan", "typing", "the user", "the user from the start"])
def test_a_headset_microphone_does_not_hear_the_app(what) -> None:
    mic = {"silence": np.zeros(len(APP), np.float32), "fan": fan_noise(4.0, R, -40.0),
           "typing": typing(4.0, R) + fan_noise(4.0, R, -50.0),
           "the user": delayed(babble(4.0, 2), 1500) + fan_noise(4.0, R, -50.0),
           "the user from the start": babble(4.0, 3)}[what]
    det, seen = decisions(mic.astype(np.float32), APP)
    assert seen[0][1] == "direct" and seen[0][0] <= 1.0, seen
    assert det.changes == 0 and det.route == "direct"
    assert "does not hear the app" in det.reason


def test_a_silent_microphone_and_then_the_users_first_word_stays_direct() -> None:
    """A muted or gated microphone (digital silence), then the user's line: the first syllable alone is too short to
    tell anything by (its score was 24-57 offline), and must not make the route AEC3's (whose suppressor would
    hold the word back)."""
    mic = np.concatenate([np.zeros(2 * R, np.float32), babble(2.0, 7)])
    det, seen = decisions(mic, APP)
    assert [r for _, r in seen] == ["direct"] and det.changes == 0, seen


def test_the_user_talking_over_the_echo_does_not_make_it_direct() -> None:
    echo = delayed(np.convolve(APP, room_ir(R, 0.5))[:len(APP)], 60)
    det, seen = decisions(echo + delayed(babble(4.0, 4), 1200), APP)
    assert [r for _, r in seen] == ["aec3"] and det.changes == 0


def test_it_follows_a_headset_plugged_in_and_unplugged() -> None:
    app = babble(8.0, 5)
    echo = delayed(np.convolve(app, room_ir(R, 0.5))[:len(app)], 60)
    half = len(app) // 2
    plugged = np.concatenate([echo[:half], np.zeros(len(app) - half, np.float32)])
    _, seen = decisions(plugged, app)
    assert [r for _, r in seen] == ["aec3", "direct"] and 4.0 < seen[1][0] <= 6.0, seen
    unplugged = np.concatenate([np.zeros(half, np.float32), echo[half:]])
    _, seen = decisions(unplugged, app)
    assert [r for _, r in seen] == ["direct", "aec3"] and 4.0 < seen[1][0] <= 4.9, seen  # two looks: under 1 s


@pytest.mark.parametrize("route_before", ["undecided", "direct"])
def test_one_look_that_scores_an_echo_is_not_enough(monkeypatch, route_before) -> None:
    """The user's voice lined up with the app's for a moment (CI once; offline 15 of 593 onsets of a user's line
    slid over Piper's paragraph): one look scored 29 at one delay, the next 10 at another. The route must not
    follow it; a real echo — two looks at the same delay — does."""
    det = EchoPathDetector()
    first = [(5.0, 0)] if route_before == "direct" else []
    looks = iter([*first, (29.3, 873), (9.8, 2068), (26.0, 4000), (5.0, 0), (31.0, 873), (40.0, 880)])
    monkeypatch.setattr(det, "best_correlation", lambda: next(looks))
    mic = fan_noise(4.0, R, -50.0)
    routes: list[tuple[float, str | None]] = []
    for a in range(0, len(APP) - HOP + 1, HOP):
        det.push(mic[a:a + HOP], APP[a:a + HOP])
        if det.correlation is not None and (not routes or routes[-1] != (det.correlation, det.route)):
            routes.append((det.correlation, det.route))
        if det.route == "aec3":
            break
    expected: list[tuple[float, str | None]] = [(5.0, "direct")] if route_before == "direct" else []
    expected += [(29.3, "direct" if expected else None), (9.8, "direct"), (26.0, "direct"), (5.0, "direct"),
                 (31.0, "direct"), (40.0, "aec3")]
    assert routes == expected
    assert det.changes == 1 and "55 ms late" in det.reason  # 880 samples at 16 kHz


def test_while_the_app_is_silent_nothing_is_decided() -> None:
    det, seen = decisions(babble(2.0, 6), np.zeros(2 * R, np.float32))
    assert seen == [] and det.route is None and det.correlation is None
