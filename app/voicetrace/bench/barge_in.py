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
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..contract import BargeInMetrics, Play
from ..core.report import distribution
from .files import save_results

TEXT = ("The history of the lighthouse begins with fires lit on hills to guide ships home at night. Later, towers "
        "carried lamps and mirrors, and the keepers who tended them lived beside the sea for months at a time. "
        "Today most lights are automatic, yet many towers still stand as museums along the coast, and visitors "
        "climb their stairs to look out over the water.")
FIRST_WORD_MS = 300  # a line heard this late was heard from its second word: the first was held back
USER_LINES = [("Wait, stop, that is not what I asked for.", "jf_alpha"), ("Hang on a second.", "jf_nezumi"),
              ("No, no, go back.", "jm_kumo"), ("Sorry, can I ask something?", "jf_gongitsune")]


def _onsets(b: BargeInMetrics) -> tuple[float, float, float] | None:
    """(VAD onset, true onset, trigger) of a barge-in that triggered, ms after submit; None if none did."""
    if b.speech_onset_ms is None or b.true_onset_ms is None or b.trigger_ms is None:
        return None
    return b.speech_onset_ms, b.true_onset_ms, b.trigger_ms


def user_clips(kokoro: Any) -> list[tuple[str, np.ndarray, int]]:
    """The users' lines (`USER_LINES`) in Kokoro's voices: (text, audio, the frame where the voice starts). The
    engine is idle: only used here, before any request."""
    clips = []
    for text, voice in USER_LINES:
        a = kokoro.synthesize(text, voice, 1.0, use_cache=False).audio.astype(np.float32)
        clips.append((text, a, int(np.flatnonzero(np.abs(a) > 0.01)[0])))
    return clips


def run_barge_in_suite(trials: int, out_dir: Path, device: str | None, echo_gain: float = 0.5,
                       seed: int = 11) -> dict[str, Any]:
    from ..bargein.listener import VoiceBargeIn
    from ..core.session import Session
    from ..testing.inject import Injector
    from ..testing.room import cough_and_knocks
    from .compare import _machine, _warm_engines_and_device

    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    workers, player = _warm_engines_and_device(["piper", "kokoro"], device)
    machine = _machine(player)
    clips = user_clips(workers["kokoro"].engine)
    session = Session(player, {"piper": workers["piper"].sharing()})
    current: list[Any] = []
    listening = VoiceBargeIn(player, lambda: current[-1] if current else None, session.cancel)
    runs: list[dict[str, Any]] = []
    plan = ["speech"] * trials + ["echo"] * max(3, trials // 2) + ["noise"] * max(3, trials // 4)
    try:
        with Injector(echo_gain=echo_gain) as injector:
            for k, kind in enumerate(plan):
                req = session.submit(TEXT, "piper")
                current.append(req)
                while not req.finished.wait(0.005) and not any(e.n for e in req.trace.of(Play)):
                    pass
                row: dict[str, Any] = {"kind": kind}
                if kind == "speech":
                    text, clip, onset = clips[k % len(clips)]
                    t_in = injector.play(clip, rng.uniform(0.5, 2.0))
                    row.update(user=text, injected_onset_ns=t_in + int(onset * 1e9 / injector.rate))
                elif kind == "noise":
                    injector.play(cough_and_knocks(nrng, injector.rate), rng.uniform(0.5, 1.5))
                if not req.finished.wait(4.0):
                    session.cancel(req.id)  # no barge-in in time: stop it as the button would
                req.finished.wait(30)
                while injector.playing:  # the rest of a cancelled user's line must not spill into the next trial
                    time.sleep(0.05)
                time.sleep(0.3)  # the listener notes what it ignored for this request
                m = req.result(timeout=5)
                b = m.barge_in
                t0 = req.t_submit_ns
                row.update(triggered=b is not None and b.triggered, barge_in=asdict(b) if b else {},
                           cancel_to_silence_ms=m.cancel_to_silence_ms, stale=m.stale_samples_after_cancel)
                if kind == "speech" and b is not None and (on := _onsets(b)) is not None:
                    speech_onset, true_onset, trigger = on
                    true_ns = t0 + true_onset * 1e6
                    row.update(onset_error_ms=round((true_ns - row["injected_onset_ns"]) / 1e6, 3),
                               vad_delay_ms=round(speech_onset - true_onset, 3),
                               decide_ms=round(trigger - true_onset, 3),
                               onset_to_silence_ms=b.onset_to_silence_ms)
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
        "listener_cpu_us_per_frame": listening.listener.cpu_us_per_frame,
    }
    res = {"machine": machine, "echo_gain": echo_gain, "min_speech_ms": listening.listener.cfg.min_speech_ms,
           "canceller": listening.listener.canceller,
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
        f"barge-in by voice — {res['machine']}; the microphone hears the app at gain {res['echo_gain']} (canceller "
        f"{res.get('canceller', 'gate')}), minimum speech {res['min_speech_ms']:.0f} ms; "
        f"{s['detected']}/{s['speech_trials']} user utterances detected", "",
        "| ms | median | p95 | max |", "|---|---|---|---|",
        row("speech onset → silence", s["onset_to_silence_ms"]),
        row("  onset → first VAD speech frame", s["vad_delay_ms"]),
        row("  onset → trigger (incl. the minimum)", s["decide_ms"]),
        row("  cancel → silence", s["cancel_to_silence_ms"]),
        row("reported onset − injected onset", s["onset_error_ms"]), "",
        f"false triggers: {s['false_triggers_echo']}/{s['echo_trials']} echo-only trials, "
        f"{s['false_triggers_noise']}/{s['noise_trials']} echo + cough/knock trials; stale samples "
        f"{s['stale_samples']}; listener CPU {s['listener_cpu_us_per_frame']} µs per 32 ms frame"])


def run_room_suite(rt60s: list[float], trials: int, out_dir: Path, device: str | None, seed: int = 18,
                   cancellers: tuple[str, ...] = ("gate", "auto")) -> dict[str, Any]:
    """`bench --suite barge-in --room RT60[,RT60…]`: the app speaks a Piper paragraph through a simulated room
    (our JACK client convolves its output with a synthetic impulse response at speaker level, a fan under it)
    into its own microphone. Per room and canceller (the gate, AEC3): `trials` trials with a user's line at a
    random moment (double talk), half as many with nobody talking, and a few with the user talking while the
    app is paused (single talk: no echo to cancel). Onset → silence is measured from the *injected* onset (the
    ground truth), and from the onset the listener reported."""
    from ..bargein.listener import BargeInConfig, VoiceBargeIn
    from ..core.session import Session
    from ..testing.inject import Injector
    from ..testing.room import fan_noise, room_ir, rt60_of
    from .compare import _machine, _warm_engines_and_device

    rng = random.Random(seed)
    workers, player = _warm_engines_and_device(["piper", "kokoro"], device)
    machine = _machine(player)
    clips = user_clips(workers["kokoro"].engine)
    rows: list[dict[str, Any]] = []
    summaries: list[dict[str, Any]] = []
    try:
        for rt60 in rt60s:
            ir = room_ir(player.rate, rt60)
            for canceller in cancellers:  # auto: the defaults, which choose AEC3 when the microphone hears the app
                session = Session(player, {"piper": workers["piper"].sharing()})
                current: list[Any] = []
                listening = VoiceBargeIn(player, lambda c=current: c[-1] if c else None,  # type: ignore[misc]
                                         session.cancel, config=BargeInConfig(canceller=canceller))
                plan = ["double"] * trials + ["echo"] * max(2, trials // 2) + ["single"] * max(2, trials // 5)
                mine: list[dict[str, Any]] = []
                try:
                    with Injector(room=ir, background=fan_noise(10.0, player.rate, -50.0)) as injector:
                        armed = _room_warm_up(session, current)  # as after ticking the box: AEC3 adapts once
                        for k, kind in enumerate(plan):
                            mine.append(_room_trial(session, injector, current, kind, clips[k % len(clips)], rng))
                            print(f"\r  room RT60 {rt60} s, {canceller}: {k + 1}/{len(plan)}", end="",
                                  file=sys.stderr, flush=True)
                finally:
                    print(file=sys.stderr)
                    listening.close()
                    session.close()
                for r in mine:
                    r.update(rt60_s=rt60, canceller=canceller)
                rows += mine
                summaries.append(_room_summary(rt60, round(rt60_of(ir, player.rate), 2), canceller, mine,
                                               listening) | {"armed_ms_fresh": armed})
    finally:
        player.close()
        for w in workers.values():
            w.stop()
    res = {"machine": machine, "trials": trials, "rooms": summaries, "runs": rows}
    save_results(out_dir, "barge_in_room", res, room_markdown(res))
    return res


def _room_warm_up(session: Any, current: list[Any]) -> float | None:
    """A first sentence through the room, not counted: a fresh AEC3 listens once it has adapted on the app's voice
    (at most `bargein.listener.AEC_WARMUP_S`), as it would after the user ticks Barge-in by voice. Returns when
    the fresh listener armed, ms after the app was first audible."""
    req = session.submit("This first sentence lets the echo canceller learn the room before the trials begin.",
                         "piper")
    current.append(req)
    req.finished.wait(30)
    time.sleep(0.3)
    b = session.metrics(req.id).barge_in
    return b.armed_ms if b is not None else None


def _room_trial(session: Any, injector: Any, current: list[Any], kind: str, clip: tuple[str, np.ndarray, int],
                rng: random.Random) -> dict[str, Any]:
    req = session.submit(TEXT, "piper")
    current.append(req)
    while not req.finished.wait(0.005) and not any(e.n for e in req.trace.of(Play)):
        pass
    row: dict[str, Any] = {"kind": kind}
    injected = None
    if kind == "single":  # the app holds still (paused): the user talks with no echo to cancel
        time.sleep(rng.uniform(0.5, 1.5))
        session.pause()
        time.sleep(0.3)
    if kind in ("double", "single"):
        text, audio, onset = clip
        injected = injector.play(audio, rng.uniform(0.5, 3.0) if kind == "double" else 0.2)
        injected += int(onset * 1e9 / injector.rate)
        row["user"] = text
    if not req.finished.wait(8.0):
        session.cancel(req.id)  # not interrupted in time: stop it as the button would
    req.finished.wait(30)
    while injector.playing:  # the rest of the user's line must not spill into the next trial
        time.sleep(0.05)
    time.sleep(0.3)
    m = req.result(timeout=5)
    b = m.barge_in
    row.update(triggered=b is not None and b.triggered, erle_db=b.erle_db if b else None,
               route=b.route if b else None,
               stale=m.stale_samples_after_cancel, cancel_to_silence_ms=m.cancel_to_silence_ms)
    if injected is not None and b is not None and (on := _onsets(b)) is not None and b.onset_to_silence_ms is not None:
        _, true_onset, trigger = on
        t0 = req.t_submit_ns
        reported = t0 + true_onset * 1e6
        row.update(onset_error_ms=round((reported - injected) / 1e6, 1),
                   early=reported < injected - 250e6,  # fired on something before the user spoke
                   injected_to_silence_ms=round(b.onset_to_silence_ms + (reported - injected) / 1e6, 1),
                   onset_to_silence_ms=b.onset_to_silence_ms,
                   decide_ms=round(t0 / 1e6 + trigger - injected / 1e6, 1))
    return row


def _room_summary(rt60: float, measured: float, canceller: str, rows: list[dict[str, Any]], listening: Any
                  ) -> dict[str, Any]:
    def of(kind: str) -> list[dict[str, Any]]:
        return [r for r in rows if r["kind"] == kind]

    double, echo, single = of("double"), of("echo"), of("single")
    hit = [r for r in double if r["triggered"] and not r.get("early")]
    hit1 = [r for r in single if r["triggered"] and not r.get("early")]
    erle = [r["erle_db"] for r in echo if r["erle_db"] is not None]
    return {
        "rt60_s": rt60, "rt60_measured_s": measured, "canceller": canceller,
        "self_interruptions": sum(r["triggered"] for r in echo), "echo_trials": len(echo),
        "fired_before_the_user": sum(bool(r.get("early")) for r in double + single),
        "user_trials": len(double), "detected": len(hit), "talk_trials": len(double) + len(single),
        "injected_onset_to_silence_ms": distribution(r["injected_to_silence_ms"] for r in hit),
        "reported_onset_to_silence_ms": distribution(r["onset_to_silence_ms"] for r in hit),
        "onset_error_ms": distribution(r["onset_error_ms"] for r in hit),
        "first_word_held": sum(r["onset_error_ms"] >= FIRST_WORD_MS for r in hit),
        "routes": sorted({str(r["route"]) for r in rows}),
        "single_talk_detected": f"{len(hit1)}/{len(single)}",
        "single_talk_injected_onset_to_silence_ms": distribution(r["injected_to_silence_ms"] for r in hit1),
        "erle_db_median": round(float(np.median(erle)), 1) if erle else None,
        "stale_samples": sum(r["stale"] for r in rows),
        "listener_cpu_us_per_frame": listening.listener.cpu_us_per_frame,
    }


def room_markdown(res: dict[str, Any]) -> str:
    def d(x: dict[str, Any]) -> str:
        return "—" if not x.get("n") else f"{x['median']:.0f} / {x['p95']:.0f}"

    lines = [f"barge-in through a simulated room — {res['machine']}; Piper paragraph at speaker level through the "
             "room into the microphone, a fan at −50 dBFS; onset → silence from the injected onset (median / p95 ms); "
             f"first word held back: heard ≥ {FIRST_WORD_MS} ms after the line began", "",
             "| RT60 (measured) | settings (route) | armed, fresh listener | interrupted itself, nobody talking | "
             "fired before the user spoke | users detected | onset → silence | reported − injected onset | first "
             "word held back | single talk: detected, onset → silence | ERLE, echo only |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in res["rooms"]:
        erle = "—" if s["erle_db_median"] is None else f"{s['erle_db_median']} dB"
        name = "defaults" if s["canceller"] == "auto" else s["canceller"]
        armed = "—" if s.get("armed_ms_fresh") is None else f"{s['armed_ms_fresh']:.0f} ms"
        lines.append(f"| {s['rt60_s']} s ({s['rt60_measured_s']}) | {name} ({', '.join(s.get('routes', []))}) | "
                     f"{armed} | {s['self_interruptions']}/"
                     f"{s['echo_trials']} | {s['fired_before_the_user']}/{s['talk_trials']} | "
                     f"{s['detected']}/{s['user_trials']} | "
                     f"{d(s['injected_onset_to_silence_ms'])} | {d(s['onset_error_ms'])} | "
                     f"{s.get('first_word_held', '—')}/{s['detected']} | "
                     f"{s['single_talk_detected']}, {d(s['single_talk_injected_onset_to_silence_ms'])} | {erle} |")
    return "\n".join(lines)
