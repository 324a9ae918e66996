"""Offline: the echo-path detector (`bargein.echopath`) on synthetic microphones at 16 kHz — Piper's voice as the
far end; the microphone hearing it through a single tap or a room (RT60 0.3/0.5/0.8, loud or quiet speakers,
echo delays 0-300 ms), with or without a user talking over it; or not hearing it (a headset: silence, a fan,
typing, the user's line). Prints, per condition, the range of correlations once the detector may decide, the
first decision and when (s of the app's voice), and how often the decision flipped.

    python scripts/echo_path_try.py APP.npy(22.05 kHz Piper) USER.npy(24 kHz) [USER2.npy ...]
"""
from __future__ import annotations

import sys

import numpy as np
import soxr

from voicetrace.bargein.echopath import FRAME, EchoPathDetector
from voicetrace.testing.room import fan_noise, room_ir, typing

R = 16_000


def run(mic: np.ndarray, far: np.ndarray) -> tuple[list[float], list[tuple[float, str]], int]:
    det = EchoPathDetector()
    corrs, decisions = [], []
    hop = 3 * FRAME
    for a in range(0, min(len(mic), len(far)) - hop, hop):
        before = det.route
        det.push(mic[a:a + hop], far[a:a + hop])
        if det.correlation is not None:
            corrs.append(det.correlation)
        if det.route != before:
            decisions.append((round((a + hop) / R, 2), str(det.route)))
    return corrs, decisions, det.changes


def main() -> None:
    app = soxr.resample(np.load(sys.argv[1]), 22_050, R).astype(np.float32)
    users = [soxr.resample(np.load(p), 24_000, R).astype(np.float32) for p in sys.argv[2:]]
    n = len(app)
    far = app
    conds: dict[str, np.ndarray] = {}

    def delayed(x: np.ndarray, ms: float) -> np.ndarray:
        d = int(ms * R / 1000)
        return np.concatenate([np.zeros(d, np.float32), x])[:n]

    def user_at(s: float, u: np.ndarray) -> np.ndarray:
        out = np.zeros(n, np.float32)
        k = int(s * R)
        out[k:k + len(u)] = u[:n - k]
        return out

    fan = fan_noise(n / R, R, -50.0)
    for rt in (0.3, 0.5, 0.8):
        ir = room_ir(R, rt)
        for gain, name in ((1.0, "loud"), (0.1, "quiet -20 dB")):
            for delay in (0, 60, 300):
                echo = delayed(np.convolve(far, ir)[:n] * gain, delay)
                conds[f"echo room {rt} {name} +{delay} ms, fan"] = echo + fan
        echo = delayed(np.convolve(far, ir)[:n], 60)
        for i, u in enumerate(users):
            conds[f"echo room {rt} + user{i} at 0.5 s and 5 s"] = echo + fan + user_at(0.5, u) + user_at(5.0, u)
    conds["echo tap 0.5 +40 ms"] = delayed(far * 0.5, 40)
    conds["headset: silence"] = np.zeros(n, np.float32)
    conds["headset: fan -50"] = fan
    conds["headset: fan -30"] = fan * 10
    conds["headset: typing + fan"] = typing(n / R, R) + fan
    for i, u in enumerate(users):
        for s in (0.0, 0.3, 1.0, 5.0):
            conds[f"headset: user{i} at {s} s, fan"] = user_at(s, u) + fan
        conds[f"headset: user{i} x3 back to back"] = user_at(0.0, u) + user_at(3.2, u) + user_at(6.6, u) + fan
    half = n // 2
    echo = delayed(np.convolve(far, room_ir(R, 0.5))[:n], 60)
    conds["headset plugged in at half (echo, then none)"] = np.concatenate([echo[:half], np.zeros(n - half)]) + fan
    conds["headset unplugged at half (none, then echo)"] = np.concatenate([np.zeros(half), echo[half:]]) + fan
    print(f"(the app speaks from 0 s; half = {half / R:.2f} s)")
    for name, mic in conds.items():
        corrs, dec, changes = run(mic.astype(np.float32), far)
        c = np.asarray(corrs) if corrs else np.zeros(1)
        print(f"{name:45s} corr min {c.min():.2f} p5 {np.percentile(c, 5):.2f} median {np.median(c):.2f} "
              f"p95 {np.percentile(c, 95):.2f} max {c.max():.2f} | {dec[:4]} flips {changes}")


if __name__ == "__main__":
    main()
