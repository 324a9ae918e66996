"""Offline: can a user's line over the app's voice make the echo-path detector (`bargein.echopath`) believe a
headset's microphone hears the app? Slides the line over the far end in 13 ms steps (a fan at −55 dBFS under it,
the app silenced 0.45 s after the line's onset, as a barge-in would) and counts the onsets whose route flipped,
with the highest single look of each.

    python scripts/echo_path_onsets.py APP.npy(22.05 kHz Piper) USER.npy(24 kHz) [FROM_S TO_S]
"""
from __future__ import annotations

import sys

import numpy as np
import soxr

from voicetrace.bargein.echopath import EchoPathDetector
from voicetrace.testing.room import fan_noise

R = 16_000
HOP = 341  # the listener hands over 32 ms at 48 kHz → 16 kHz in uneven pieces; any size will do


def main() -> None:
    app = soxr.resample(np.load(sys.argv[1]), 22_050, R).astype(np.float32)
    user = soxr.resample(np.load(sys.argv[2]), 24_000, R).astype(np.float32)
    start, stop = (float(sys.argv[3]), float(sys.argv[4])) if len(sys.argv) > 4 else (0.3, 8.0)
    onset = int(np.flatnonzero(np.abs(user) > 0.01)[0])
    n = len(app)
    fan = fan_noise(n / R, R, -55.0)
    rows = []
    for at in np.arange(start, stop, 0.013):
        k = int(at * R)
        mic = fan.copy()
        mic[k:k + len(user)] += user[:n - k]
        far = app.copy()
        cut = k + onset + int(0.45 * R)
        far[cut:] = 0
        det = EchoPathDetector()
        top = 0.0
        for a in range(0, min(n, cut + 2 * R) - HOP, HOP):
            det.push(mic[a:a + HOP], far[a:a + HOP])
            top = max(top, det.correlation or 0.0)
        rows.append((top, round(float(at), 3), det.changes))
    flipped = [r for r in rows if r[2]]
    print(f"{len(flipped)} of {len(rows)} onsets flipped the route; highest single looks (score, onset s, flips):")
    for r in sorted(rows, reverse=True)[:8]:
        print("  ", r)


if __name__ == "__main__":
    main()
