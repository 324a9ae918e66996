"""`voicetrace bench --suite barge-in --mic clean`: a microphone that does not hear the app (a headset), the
default settings against headphones mode, on the virtual JACK device with ground truth.

Every trial is a fresh listener, as every `speak --barge-in voice` run is, so the time barge-in needed to arm is
part of the figure. Our JACK client plays into the app's capture port a headset's noise floor (a fan at −55 dBFS)
and, in line trials, a user's line (Kokoro voices) at a random moment of a Piper paragraph — a quarter of them in
the first second of the app's speech; in noise trials a louder fan, typing and a cough, nobody talking. Onset →
silence is measured from where the line was put in (the injected onset), not from what the listener reported."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..core.report import distribution
from .barge_in import TEXT, user_clips
from .files import save_results

CONDITIONS = ("defaults", "headphones")
EARLY_MS = 250  # a reported onset this much before the line was put in fired on something else


def run_clean_mic_suite(trials: int, out_dir: Path, device: str | None, seed: int = 27) -> dict[str, Any]:
    from ..bargein.listener import BargeInConfig
    from ..testing.listen import speak_listened
    from ..testing.room import cough_and_knocks, fan_noise, typing
    from .compare import _machine, _warm_engines_and_device

    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    workers, player = _warm_engines_and_device(["piper", "kokoro"], device)
    machine = _machine(player)
    clips = user_clips(workers["kokoro"].engine)
    rate = player.rate
    # one plan for both conditions: the same line at the same moment, so their medians compare like for like
    moments = [rng.uniform(0.0, 1.0) if k < trials // 4 else rng.uniform(1.0, 4.0) for k in range(trials)]
    plan: list[tuple[str, str, float, int]] = [(c, "line", at, k) for k, at in enumerate(moments) for c in CONDITIONS]
    plan += [("defaults", "noise", rng.uniform(0.5, 3.0), k) for k in range(max(3, trials // 4))]
    rows: list[dict[str, Any]] = []
    source = workers["piper"].sharing()
    try:
        for n, (condition, kind, at_s, k) in enumerate(plan):
            config = BargeInConfig(headphones=condition == "headphones")
            if kind == "line":
                text, clip, onset = clips[k % len(clips)]
                user, background = (clip, onset), fan_noise(12.0, rate, -55.0)
            else:
                text, user = "", (cough_and_knocks(nrng, rate), 0)
                background = fan_noise(12.0, rate, -45.0) + typing(12.0, rate)
            m, injected, t0 = speak_listened(player, source, TEXT, config=config, user=user, at_s=at_s,
                                             speak_s=at_s + 4.0, background=background, rate=rate)
            rows.append(_row(condition, kind, text, at_s, m, injected, t0))
            print(f"\r  clean microphone {n + 1}/{len(plan)} {condition:10s} {kind:5s} at {at_s:.1f} s "
                  f"interrupted={rows[-1]['interrupted']!s:5s}", end="", file=sys.stderr, flush=True)
    finally:
        print(file=sys.stderr)
        player.close()
        for w in workers.values():
            w.stop()
    conditions = [_summary(c, rows) for c in CONDITIONS]
    d, h = (s["injected_onset_to_silence_ms"].get("median") for s in conditions)
    res = {"machine": machine, "trials": trials, "runs": rows, "conditions": conditions,
           "defaults_over_headphones_median": round(d / h, 2) if d and h else None}
    save_results(out_dir, "barge_in_clean", res, clean_markdown(res))
    return res


def _row(condition: str, kind: str, text: str, at_s: float, m: Any, injected: int | None, t0: int
         ) -> dict[str, Any]:
    b = m.barge_in
    fired = b is not None and b.trigger_ms is not None
    row: dict[str, Any] = {"condition": condition, "kind": kind, "user": text, "at_s": round(at_s, 3),
                           "interrupted": fired, "stale": m.stale_samples_after_cancel,
                           "route": b.route if b else None, "route_reason": b.route_reason if b else None,
                           "route_changes": b.route_changes if b else None, "armed_ms": b.armed_ms if b else None}
    if fired and injected is not None and b.true_onset_ms is not None and m.cancel_to_silence_ms is not None:
        reported = t0 + b.true_onset_ms * 1e6
        row.update(early=reported < injected - EARLY_MS * 1e6,
                   onset_error_ms=round((reported - injected) / 1e6, 1),
                   injected_onset_to_silence_ms=round((t0 + (b.trigger_ms + m.cancel_to_silence_ms) * 1e6
                                                       - injected) / 1e6, 1))
    return row


def _summary(condition: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    mine = [r for r in rows if r["condition"] == condition]
    lines = [r for r in mine if r["kind"] == "line"]
    noise = [r for r in mine if r["kind"] == "noise"]
    hit = [r for r in lines if r["interrupted"] and not r.get("early")]
    first_second = [r for r in lines if r["at_s"] < 1.0]
    return {
        "condition": condition, "line_trials": len(lines), "detected": len(hit),
        "first_second": f"{sum(r in hit for r in first_second)}/{len(first_second)}",
        "fired_early": sum(bool(r.get("early")) for r in lines),
        "noise_trials": len(noise), "noise_triggers": sum(r["interrupted"] for r in noise),
        "injected_onset_to_silence_ms": distribution(r["injected_onset_to_silence_ms"] for r in hit),
        "onset_error_ms": distribution(r["onset_error_ms"] for r in hit),
        "armed_ms": distribution(r["armed_ms"] for r in mine if r["armed_ms"] is not None),
        "routes": sorted({str(r["route"]) for r in mine}),
        "route_changes": sum(r["route_changes"] or 0 for r in mine),
        "stale_samples": sum(r["stale"] or 0 for r in mine),
    }


def clean_markdown(res: dict[str, Any]) -> str:
    def d(x: dict[str, Any]) -> str:
        return "—" if not x.get("n") else f"{x['median']:.0f} / {x['p95']:.0f}"

    lines = [f"barge-in, a microphone that does not hear the app (a headset) — {res['machine']}; a fresh listener "
             "per trial, Piper paragraph, a user's line at a random moment (a quarter in the first second), a fan "
             "at −55 dBFS; onset → silence from the injected onset (median / p95 ms)", "",
             "| settings | lines detected | in the first second | fired before the user | noise only: triggered | "
             "onset → silence | reported − injected onset | armed after the app began (median / p95 ms) | route "
             "| stale samples |", "|---|---|---|---|---|---|---|---|---|---|"]
    for s in res["conditions"]:
        noise = f"{s['noise_triggers']}/{s['noise_trials']}" if s["noise_trials"] else "—"
        lines.append(f"| {s['condition']} | {s['detected']}/{s['line_trials']} | {s['first_second']} | "
                     f"{s['fired_early']}/{s['line_trials']} | {noise} | {d(s['injected_onset_to_silence_ms'])} | "
                     f"{d(s['onset_error_ms'])} | {d(s['armed_ms'])} | {', '.join(s['routes'])} | "
                     f"{s['stale_samples']} |")
    lines += ["", f"defaults / headphones, onset → silence median: {res['defaults_over_headphones_median']}"]
    return "\n".join(lines)
