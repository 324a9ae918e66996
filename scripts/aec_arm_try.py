"""Offline: when is a fresh AEC3 (`bargein.aec.EchoCanceller3`, four phases) safe to listen through? Piper's voice
through a simulated room (RT60 0.3/0.5/0.8, a fan at −50 dBFS, echo delays over one period of AEC3's delay
estimator and beyond) into a fresh canceller; per 32 ms: the ERLE over the last ½ s of the app's voice and the
VAD on the residual (speech: P ≥ 0.5 and above −50 dBFS, as the listener counts it). Prints, per run, when the
running ERLE first reached 10/15/20 dB and the residual's speech frames after that (each a step towards the
app interrupting itself; 5 of 8 would).

    python scripts/aec_arm_try.py APP.npy(22.05 kHz Piper)
"""
from __future__ import annotations

import math
import sys

import numpy as np
import soxr

from voicetrace.audio.vad import VAD_FRAME, VoiceDetector
from voicetrace.bargein.aec import AUDIBLE, EchoCanceller3
from voicetrace.testing.room import fan_noise, room_ir

R = 16_000
HOP = 512
RECENT = 16  # hops: ½ s


def run(mic: np.ndarray, far: np.ndarray) -> tuple[list[tuple[float, float]], list[float]]:
    ec, vad = EchoCanceller3(R, R), VoiceDetector()
    erle, speech, rows = [], [], []
    pending = np.zeros(0, np.float32)
    heard = 0.0
    for a in range(0, len(far) - HOP, HOP):
        f = far[a:a + HOP]
        m16, res = ec.process(mic[a:a + HOP], f)
        audible = float(np.max(np.abs(f))) >= AUDIBLE
        if audible:
            heard += HOP / R
            rows.append((float(np.dot(m16, m16)), float(np.dot(res, res))))
            recent = rows[-RECENT:]
            erle.append((heard, 10 * math.log10(sum(r[0] for r in recent) / max(1e-12, sum(r[1] for r in recent)))))
        pending = np.concatenate([pending, res])
        while len(pending) >= VAD_FRAME:
            x, pending = pending[:VAD_FRAME], pending[VAD_FRAME:]
            if vad.speech_probability(x) >= 0.5 and math.sqrt(float(np.mean(x * x))) >= 0.003:
                speech.append(heard)
    return erle, speech


def main() -> None:
    app = soxr.resample(np.load(sys.argv[1]), 22_050, R).astype(np.float32)
    far = np.concatenate([np.zeros(R // 2, np.float32), app])
    n = len(far)
    fan = fan_noise(n / R, R, -50.0)
    for rt in (0.3, 0.5, 0.8):
        ir = room_ir(R, rt)
        for d in (640, 641, 642, 643, 1600, 4000):
            mic = (np.concatenate([np.zeros(d, np.float32), np.convolve(far, ir)[:n - d]]) + fan).astype(np.float32)
            erle, speech = run(mic, far)
            out = []
            for t in (10.0, 15.0, 20.0):
                at = next((h for h, e in erle if e >= t), None)
                after = [s for s in speech if at is not None and s >= at]
                out.append(f"{t:.0f} dB at {at if at is None else round(at, 2)} s, speech after {len(after)}"
                           f"{' ' + str([round(s, 2) for s in after[:4]]) if after else ''}")
            last = [e for h, e in erle if h >= 2.0]
            print(f"RT60 {rt} delay {d / 16:.1f} ms: speech frames at {[round(s, 2) for s in speech[:8]]}; "
                  + "; ".join(out) + f"; ERLE after 2 s min {min(last):.1f}" if last else "")


if __name__ == "__main__":
    main()
