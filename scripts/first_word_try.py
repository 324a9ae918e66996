"""Offline: how often does AEC3's suppressor hold a user's first word back in double talk, and does a second VAD on
the raw microphone, gated by an estimate of the echo in it, give the word back without taking the app's own
voice for speech? (issue 27, item 3.)

A Piper paragraph through a simulated room (RT60 0.5 s, the listener's four AEC3s, a fan at −50 dBFS, the echo
40 ms late), a warm canceller (lines from 3 s on, after the arming bound); one of four Kokoro lines added at the
user's level at onsets every 0.25 s. Per onset and route, when the first speech frame came and when the listener's
trigger rule (5 speech frames of the last 8) would have fired, from the line's onset:

- residual: the VAD on AEC3's residual (as the listener runs today);
- raw gated: also a frame where the VAD on the raw microphone says speech *and* the microphone is `--gate-db`
  above the echo predicted from the far end (the echo return, mic / far energy, learnt on the app's voice where
  the residual's VAD heard no speech; the far end's loudest frame of the last 256 ms, for the delay and the
  room's tail).

And the same on the paragraph with nobody talking: whether the gated route would ever fire (the app interrupting
itself).

    python scripts/first_word_try.py [--gate-db 6] [--rt60 0.5] [--step 0.25]
"""
from __future__ import annotations

import argparse
import math

import numpy as np
import soxr

from voicetrace.audio.vad import VAD_FRAME, VoiceDetector
from voicetrace.bargein.aec import AUDIBLE, EchoCanceller3
from voicetrace.testing.room import fan_noise, room_ir

R = 16_000
TEXT = ("The history of the lighthouse begins with fires lit on hills to guide ships home at night. Later, towers "
        "carried lamps and mirrors, and the keepers who tended them lived beside the sea for months at a time. "
        "Today most lights are automatic, yet many towers still stand as museums along the coast.")
LINES = [("Wait, stop, that is not what I asked for.", "jf_alpha"), ("Hang on a second.", "jf_nezumi"),
         ("No, no, go back.", "jm_kumo"), ("Sorry, can I ask something?", "jf_gongitsune")]
ENVELOPE = 8  # VAD frames (256 ms): the far end's loudest recent frame stands for the echo now
MIN_RMS = 0.003  # as the listener: a speech frame is also above −50 dBFS


def speech(vad: VoiceDetector, x: np.ndarray) -> bool:
    return vad.speech_probability(x) >= 0.5 and math.sqrt(float(np.mean(x * x))) >= MIN_RMS


def run(mic: np.ndarray, far: np.ndarray, gate: float) -> dict[str, list[float]]:
    """Frame times (s) of speech on each route. The echo return is learnt where the residual's VAD heard no speech,
    as a live listener would (no ground truth)."""
    ec, v_res, v_raw = EchoCanceller3(R, R), VoiceDetector(), VoiceDetector()
    out: dict[str, list[float]] = {"residual": [], "raw gated": []}
    near = np.zeros(0, np.float32)
    resid = np.zeros(0, np.float32)
    farq = np.zeros(0, np.float32)
    far_energy: list[float] = []
    erl: list[float] = []
    t = 0
    for a in range(0, len(far) - VAD_FRAME, VAD_FRAME):
        m16, res = ec.process(mic[a:a + VAD_FRAME], far[a:a + VAD_FRAME])
        near, resid, farq = (np.concatenate([near, m16]), np.concatenate([resid, res]),
                             np.concatenate([farq, ec.last_far]))
        while len(near) >= VAD_FRAME and len(resid) >= VAD_FRAME and len(farq) >= VAD_FRAME:
            m, r, f = near[:VAD_FRAME], resid[:VAD_FRAME], farq[:VAD_FRAME]
            near, resid, farq = near[VAD_FRAME:], resid[VAD_FRAME:], farq[VAD_FRAME:]
            sec = t / R
            t += VAD_FRAME
            far_energy.append(float(np.mean(f * f)))
            env = max(far_energy[-ENVELOPE:])
            e_mic = float(np.mean(m * m))
            on_res = speech(v_res, r)
            if on_res:
                out["residual"].append(sec)
            raw = speech(v_raw, m)
            predicted = (float(np.median(erl)) if len(erl) >= 20 else math.inf) * env
            gated = raw and e_mic > gate * predicted
            if on_res or gated:
                out["raw gated"].append(sec)
            if env > AUDIBLE ** 2 and not on_res:  # the app audible, nobody heard in the residual: echo, mostly
                erl.append(e_mic / env)  # (not "nor gated": learning only what the gate let through biases it low)
                del erl[:-200]
    return out


def trigger(frames: list[float], after: float) -> float | None:
    """When 5 of the last 8 frames (32 ms) were speech, from `after` on."""
    ticks = sorted({round(s / 0.032) for s in frames if s >= after - 0.3})
    for k, tick in enumerate(ticks):
        if k >= 4 and tick - ticks[k - 4] <= 7:
            return tick * 0.032
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gate-db", type=float, default=6.0)
    ap.add_argument("--rt60", type=float, default=0.5)
    ap.add_argument("--step", type=float, default=0.25)
    ap.add_argument("--delay", type=int, default=640, help="the echo's delay, 16 kHz samples")
    args = ap.parse_args()
    gate = 10 ** (args.gate_db / 10)
    from voicetrace.core.pipeline import LocalSource

    kokoro = LocalSource.load("kokoro")
    kokoro.wait_ready()
    users = [soxr.resample(kokoro.engine.synthesize(t, v, 1.0, use_cache=False).audio, 24_000, R)
             .astype(np.float32) for t, v in LINES]
    kokoro.stop()
    piper = LocalSource.load("piper")
    piper.wait_ready()
    res = piper.engine.synthesize(TEXT, piper.engine.default_voice, 1.0, use_cache=False)
    app = soxr.resample(res.audio, res.rate, R).astype(np.float32)
    piper.stop()
    far = np.concatenate([np.zeros(R // 2, np.float32), app])
    n, delay = len(far), args.delay
    echo = np.concatenate([np.zeros(delay, np.float32), np.convolve(far, room_ir(R, args.rt60))[:n - delay]])
    base = (echo + fan_noise(n / R, R, -50.0)).astype(np.float32)
    alone = run(base, far, gate)
    print(f"nobody talking: residual trigger at {trigger(alone['residual'], 0)}, raw gated trigger at "
          f"{trigger(alone['raw gated'], 0)}; raw gated speech frames {len(alone['raw gated'])} "
          f"(residual {len(alone['residual'])})")
    rows = []
    for k, at in enumerate(np.arange(3.0, n / R - 2.5, args.step)):
        user = users[k % len(users)]
        lead = int(np.flatnonzero(np.abs(user) > 0.01)[0])
        start = int(at * R) - lead
        mic = base.copy()
        mic[start:start + len(user)] += user[:n - start]
        cut = min(n, int(at * R) + int(2.0 * R))  # 2 s of the line is enough to see when it was heard
        got = run(mic[:cut], far[:cut], gate)
        row = {"at": round(float(at), 2), "line": k % len(users)}
        for route, frames in got.items():
            first = next((s for s in frames if s >= at - 0.05), None)
            fired = trigger(frames, at)
            row[route] = (None if first is None else round((first - at) * 1000),
                          None if fired is None else round((fired - at) * 1000))
        rows.append(row)
        print(row, flush=True)
    for route in ("residual", "raw gated"):
        firsts = [r[route][0] for r in rows]
        fires = [r[route][1] for r in rows]
        held = sum(f is None or f >= 300 for f in firsts)
        ok = [f for f in fires if f is not None]
        print(f"{route}: first speech frame ≥ 300 ms after the onset (or never) {held}/{len(rows)}; trigger "
              f"median {np.median(ok):.0f} ms, p95 {np.percentile(ok, 95):.0f}, max {max(ok)} ms, "
              f"missed {len(fires) - len(ok)}; early (< 0) {sum(f < 0 for f in ok)}")


if __name__ == "__main__":
    main()
