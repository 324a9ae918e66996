"""`voicetrace bench --suite barge-in`: voice barge-in on the virtual JACK device, with ground truth.

A JACK client of our own feeds the app's microphone: the app's own output at speaker level (gain 0.5, always,
as a laptop's microphone hears its speakers) plus, in speech trials, a known user utterance at a random moment
while the app speaks. Figures: speech onset → silence (the latency a person talking over it feels) and its
parts; false triggers where no user spoke (echo only; echo with coughs and knocks)."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..contract import Ev
from ..core.report import distribution

TEXT = ("The history of the lighthouse begins with fires lit on hills to guide ships home at night. Later, towers "
        "carried lamps and mirrors, and the keepers who tended them lived beside the sea for months at a time. "
        "Today most lights are automatic, yet many towers still stand as museums along the coast, and visitors "
        "climb their stairs to look out over the water.")
USER_LINES = [("Wait, stop, that is not what I asked for.", "jf_alpha"), ("Hang on a second.", "jf_nezumi"),
              ("No, no, go back.", "jm_kumo"), ("Sorry, can I ask something?", "jf_gongitsune")]


def _noise_clip(rng: np.random.Generator, rate: int) -> np.ndarray:
    """A cough-like burst (~150 ms decay) and two knocks: loud, short, not speech."""
    t = np.arange(int(0.8 * rate)) / rate
    x = (0.3 * rng.standard_normal(len(t)) * np.exp(-t / 0.15)).astype(np.float32)
    for at in (0.45, 0.6):
        x[int(at * rate)] += 0.8
    return x


def run_barge_in_suite(trials: int, out_dir: Path, device: str | None, echo_gain: float = 0.5,
                       seed: int = 11) -> dict[str, Any]:
    from ..bargein.listener import VoiceBargeIn
    from ..core.session import Session
    from ..testing.inject import Injector
    from .compare import _machine, _warm_engines_and_device

    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    workers, player = _warm_engines_and_device(["piper", "kokoro"], device)
    machine = _machine(player)
    kokoro = workers["kokoro"].engine  # idle: only used here, before any request, for the users' lines
    clips = []
    for text, voice in USER_LINES:
        a = kokoro.synthesize(text, voice, 1.0, use_cache=False).audio.astype(np.float32)
        clips.append((text, a, int(np.flatnonzero(np.abs(a) > 0.01)[0])))
    session = Session(player, {"piper": workers["piper"]})
    session.use_cache = False
    current: list[Any] = []
    listening = VoiceBargeIn(player, lambda: current[-1] if current else None, session.cancel)
    runs: list[dict[str, Any]] = []
    plan = ["speech"] * trials + ["echo"] * max(3, trials // 2) + ["noise"] * max(3, trials // 4)
    try:
        with Injector(echo_gain=echo_gain) as injector:
            for k, kind in enumerate(plan):
                req = session.submit(TEXT, "piper")
                current.append(req)
                while not req.finished.wait(0.005) and not any(e.data["n"] for e in req.trace.of(Ev.PLAY)):
                    pass
                row: dict[str, Any] = {"kind": kind}
                if kind == "speech":
                    text, clip, onset = clips[k % len(clips)]
                    t_in = injector.play(clip, rng.uniform(0.5, 2.0))
                    row.update(user=text, injected_onset_ns=t_in + int(onset * 1e9 / injector.rate))
                elif kind == "noise":
                    injector.play(_noise_clip(nrng, injector.rate), rng.uniform(0.5, 1.5))
                if not req.finished.wait(4.0):
                    session.cancel(req.id)  # no barge-in in time: stop it as the button would
                req.finished.wait(30)
                while injector.playing:  # the rest of a cancelled user's line must not spill into the next trial
                    time.sleep(0.05)
                time.sleep(0.3)  # the listener notes what it ignored for this request
                m = req.result(timeout=5)
                b = m.barge_in or {}
                t0 = req.t_submit_ns
                row.update(triggered=b.get("trigger_ms") is not None, barge_in=b,
                           cancel_to_silence_ms=m.cancel_to_silence_ms, stale=m.stale_samples_after_cancel)
                if kind == "speech" and row["triggered"]:
                    true_ns = t0 + b["true_onset_ms"] * 1e6
                    row.update(onset_error_ms=round((true_ns - row["injected_onset_ns"]) / 1e6, 3),
                               vad_delay_ms=round(b["speech_onset_ms"] - b["true_onset_ms"], 3),
                               decide_ms=round(b["trigger_ms"] - b["true_onset_ms"], 3),
                               onset_to_silence_ms=b["onset_to_silence_ms"])
                runs.append(row)
                print(f"\r  barge-in {k + 1}/{len(plan)} {kind:6s} triggered={row['triggered']!s:5s} "
                      f"onset→silence {row.get('onset_to_silence_ms')}", end="", file=sys.stderr, flush=True)
    finally:
        print(file=sys.stderr)
        listening.close()
        session.close()
        player.close()
        for w in workers.values():
            w.stop()
    speech = [r for r in runs if r["kind"] == "speech"]
    hit = [r for r in speech if r["triggered"]]
    summary = {
        "speech_trials": len(speech), "detected": len(hit),
        "onset_to_silence_ms": distribution(r["onset_to_silence_ms"] for r in hit),
        "vad_delay_ms": distribution(r["vad_delay_ms"] for r in hit),
        "decide_ms": distribution(r["decide_ms"] for r in hit),
        "cancel_to_silence_ms": distribution(r["cancel_to_silence_ms"] for r in hit),
        "onset_error_ms": distribution(r["onset_error_ms"] for r in hit),
        "false_triggers_echo": sum(r["triggered"] for r in runs if r["kind"] == "echo"),
        "echo_trials": sum(r["kind"] == "echo" for r in runs),
        "false_triggers_noise": sum(r["triggered"] for r in runs if r["kind"] == "noise"),
        "noise_trials": sum(r["kind"] == "noise" for r in runs),
        "stale_samples": sum(r["stale"] for r in runs),
        "listener_us_per_frame": round(listening.listener.busy_ns / max(1, listening.listener.frames_analysed)
                                       / 1000, 1),
    }
    res = {"machine": machine, "echo_gain": echo_gain, "min_speech_ms": listening.listener.cfg.min_speech_ms,
           "runs": runs, "summary": summary}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "barge_in.json").write_text(json.dumps(res, indent=1))
    print(markdown(res))
    return res


def markdown(res: dict[str, Any]) -> str:
    s = res["summary"]

    def row(name: str, d: dict[str, Any]) -> str:
        return f"| {name} | {d['median']} | {d['p95']} | {d['max']} |"

    return "\n".join([
        f"barge-in by voice — {res['machine']}; the microphone hears the app at gain {res['echo_gain']} (the gate "
        f"on), minimum speech {res['min_speech_ms']:.0f} ms; {s['detected']}/{s['speech_trials']} user utterances "
        "detected", "",
        "| ms | median | p95 | max |", "|---|---|---|---|",
        row("speech onset → silence", s["onset_to_silence_ms"]),
        row("  onset → first VAD speech frame", s["vad_delay_ms"]),
        row("  onset → trigger (incl. the minimum)", s["decide_ms"]),
        row("  cancel → silence", s["cancel_to_silence_ms"]),
        row("reported onset − injected onset", s["onset_error_ms"]), "",
        f"false triggers: {s['false_triggers_echo']}/{s['echo_trials']} echo-only trials, "
        f"{s['false_triggers_noise']}/{s['noise_trials']} echo + cough/knock trials; stale samples "
        f"{s['stale_samples']}; listener {s['listener_us_per_frame']} µs per 32 ms frame"])
