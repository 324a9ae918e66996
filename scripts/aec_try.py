"""Does a real acoustic echo canceller beat the barge-in gate? WebRTC AEC3 (`pywebrtc-audio`, wheels on PyPI)
against `bargein.remove_echo`, offline, on the project's own speech:

- the app speaks a Piper paragraph (the far end); the microphone hears it through an echo path — a single
  delayed tap (what the JACK tests model), or a room (the tap plus a 300 ms decaying reverberant tail);
- in "user" trials a Kokoro voice talks over it from 3 s on.

Per method: echo return loss enhancement (ERLE, echo-only), frames the VAD calls speech on echo alone (each is
a step towards a false barge-in), whether a 200 ms trigger happens on echo alone, and the delay to detect the
user. `pip install pywebrtc-audio` first (it is not a dependency).

    .venv/bin/python scripts/aec_try.py
"""

from __future__ import annotations

import numpy as np
import soxr

from voicetrace.audio.vad import VAD_FRAME, VAD_RATE, VoiceDetector
from voicetrace.bargein.listener import remove_echo

RATE = VAD_RATE
DELAY = int(0.040 * RATE)  # loudspeaker → microphone, after the devices' own latencies
MAX_DELAY = int(0.25 * RATE)
NEED = 7  # 7 × 32 ms ≈ the 200 ms minimum


def speech() -> tuple[np.ndarray, np.ndarray]:
    from voicetrace.engines import create_engine
    from voicetrace.engines.catalog import find_model

    piper = create_engine(find_model("piper"))
    piper.load()
    far = piper.synthesize("Text to speech latency is often discussed as if it were one model benchmark. Choose "
                           "the voice that sounds best, check that it is fast, then wire it in. In a live agent the "
                           "listener hears something else entirely.", piper.default_voice, 1.0, use_cache=False)
    kokoro = create_engine(find_model("kokoro"))
    kokoro.load()
    user = kokoro.synthesize("Wait, stop, that is not what I asked for.", "jf_alpha", 1.0, use_cache=False)
    return (soxr.resample(far.audio, far.rate, RATE).astype(np.float32),
            soxr.resample(user.audio, user.rate, RATE).astype(np.float32))


def echo_path(far: np.ndarray, room: bool, rng: np.random.Generator) -> np.ndarray:
    ir = np.zeros(DELAY + int(0.3 * RATE), np.float32)
    ir[DELAY] = 0.5
    if room:
        t = np.arange(len(ir) - DELAY - 1) / RATE
        ir[DELAY + 1:] = 0.5 * 0.08 * rng.standard_normal(len(t)) * np.exp(-t / 0.06)  # RT60 ≈ 0.3 s
    return np.convolve(far, ir)[:len(far)].astype(np.float32)


def gate(near: np.ndarray, far: np.ndarray) -> tuple[np.ndarray, list[bool]]:
    out = np.zeros_like(near)
    echo_frames = []
    for i in range(0, len(near) - VAD_FRAME + 1, VAD_FRAME):
        ref = far[max(0, i - MAX_DELAY):i + VAD_FRAME]
        if len(ref) < MAX_DELAY + VAD_FRAME:
            ref = np.concatenate([np.zeros(MAX_DELAY + VAD_FRAME - len(ref), np.float32), ref])
        res, share = remove_echo(near[i:i + VAD_FRAME], ref, 0)
        out[i:i + VAD_FRAME] = res
        echo_frames.append(share >= 0.7)
    return out, echo_frames


def aec(near: np.ndarray, far: np.ndarray) -> np.ndarray:
    from pywebrtc_audio import EchoCanceller

    ec = EchoCanceller(sample_rate=RATE, stream_delay_ms=0)
    step = RATE // 100  # 10 ms frames
    out = np.zeros_like(near)
    for i in range(0, len(near) - step + 1, step):
        out[i:i + step] = ec.process(near[i:i + step].copy(), far[i:i + step].copy())
    return out


def speech_frames(x: np.ndarray, vad: VoiceDetector, vetoed: list[bool] | None = None) -> list[bool]:
    vad.reset()
    out = []
    for k, i in enumerate(range(0, len(x) - VAD_FRAME + 1, VAD_FRAME)):
        f = x[i:i + VAD_FRAME]
        s = vad.speech_probability(f) >= 0.5 and float(np.sqrt(np.mean(f * f))) >= 0.003
        out.append(s and not (vetoed is not None and vetoed[k]))
    return out


def first_trigger(frames: list[bool], start: int = 0) -> int | None:
    run = 0
    for k, s in enumerate(frames):
        run = run + 1 if s else 0
        if run >= NEED and k >= start:
            return k
    return None


def main() -> None:
    rng = np.random.default_rng(5)
    far, user = speech()
    vad = VoiceDetector()
    at = 3 * RATE
    print("| echo path | method | ERLE | VAD speech frames on echo alone | trigger on echo alone | user detected "
          "after |")
    print("|---|---|---|---|---|---|")
    for room in (False, True):
        echo = echo_path(far, room, rng) + 0.001 * rng.standard_normal(len(far)).astype(np.float32)
        with_user = echo.copy()
        with_user[at:at + len(user)] += user[:len(with_user) - at]
        onset = at + int(np.flatnonzero(np.abs(user) > 0.01)[0])
        for name in ("none", "gate (app)", "WebRTC AEC3", "AEC3 then gate"):
            outs = []
            for near in (echo, with_user):
                vetoed = None
                if name == "gate (app)":
                    y, vetoed = gate(near, far)
                elif name == "WebRTC AEC3":
                    y = aec(near, far)
                elif name == "AEC3 then gate":
                    y, vetoed = gate(aec(near, far), far)
                else:
                    y = near
                outs.append((y, speech_frames(y, vad, vetoed)))
            (y_echo, s_echo), (_, s_user) = outs
            tail = slice(RATE, None)  # after the AEC's first second of adaptation
            erle = 10 * np.log10(np.mean(echo[tail] ** 2) / max(np.mean(y_echo[tail] ** 2), 1e-12))
            trig = first_trigger(s_echo)
            hit = first_trigger(s_user, onset // VAD_FRAME)
            delay = "missed" if hit is None else f"{((hit + 1) * VAD_FRAME - onset) * 1000 / RATE:.0f} ms"
            print(f"| {'room' if room else 'single tap'} | {name} | {erle:.1f} dB | {sum(s_echo)}/{len(s_echo)} | "
                  f"{'yes' if trig is not None else 'no'} | {delay} |")


if __name__ == "__main__":
    main()
