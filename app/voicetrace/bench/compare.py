"""`voicetrace bench --compare`: the same texts, the same warm engines, the same output device and the same
trace, four ways of turning text into streamed audio:

- `whole`: synthesise everything, then play (the batch baseline);
- `kokoro_onnx_stream` (Kokoro only): kokoro-onnx's own `create_stream`, played as it yields;
- `per_sentence`: one sentence per synthesis call, played as each is ready (what most wrappers do);
- `voicetrace`: a short first phrase, phrases grown by the audio buffered, pipelined.

The baselines stop the way their originals do, between chunks (the run in flight finishes); VoiceTrace aborts
the run in flight. The phrase-audio cache is off for every strategy (its own lever is measured separately).
Long texts are played for at most `play_limit_s` and then cancelled, so an article does not take minutes per
run; TTFA and underruns are measured within that window."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..contract import Cancel, Play
from ..core.pipeline import LocalSource, planner_config_for
from ..core.report import distribution, percentile
from ..core.source import ChunkSource
from ..errors import UserError
from .baselines import BaselineSource, Chunking, KokoroOnnxStreamSource, uncached

# voicetrace_whole: VoiceTrace's planner with Kokoro decoding each phrase whole (`--kokoro-mode whole`, the
# phrase-at-a-time path before the graph was cut); voicetrace: Kokoro decoding phrases in pieces.
STRATEGIES = ("whole", "kokoro_onnx_stream", "per_sentence", "voicetrace_whole", "voicetrace")
KOKORO_ONLY = ("kokoro_onnx_stream", "voicetrace_whole")
TEXTS_DIR = Path(__file__).resolve().parent / "texts"
DEFAULT_TEXTS = ("short", "sentence", "paragraph")


def strategy_streams(strategy: str, w: LocalSource) -> bool:
    """Only VoiceTrace itself decodes a phrase in pieces; the baselines make each of their units whole."""
    return strategy == "voicetrace" and bool(getattr(w.engine, "can_stream", False))


def load_texts(names: list[str]) -> dict[str, str]:
    out = {}
    for n in names:
        p = Path(n)
        if not p.is_file():
            p = TEXTS_DIR / f"{n}.txt"
        try:
            out[p.stem] = p.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UserError(f"cannot read bench text {n!r} ({exc})", f"use a file or one of {DEFAULT_TEXTS}") from exc
    return out


def _run_one(session: Any, key: str, text: str, voice: str, play_limit_s: float,
             cancel_after_audio_s: float | None) -> dict[str, Any]:
    req = session.submit(text, key, voice)
    deadline = time.monotonic() + 600
    first_audio: float | None = None
    while not req.finished.wait(0.005) and time.monotonic() < deadline:
        if first_audio is None and any(e.n > 0 for e in req.trace.of(Play)):
            first_audio = time.monotonic()
        if first_audio is None:
            continue
        limit = cancel_after_audio_s if cancel_after_audio_s is not None else play_limit_s
        if time.monotonic() - first_audio >= limit:
            session.cancel(req.id)
            req.finished.wait(30)
            break
    if not req.finished.is_set():
        session.cancel(req.id)
    m = req.result(timeout=30).to_dict()
    m.pop("chunks", None)
    m["played_s"] = round(sum(e.n for e in req.trace.of(Play)) / session.output.rate, 3)
    m["interrupted"] = cancel_after_audio_s is not None
    cancel = req.trace.first(Cancel)
    m["submit_ns"] = req.t_submit_ns  # absolute, for the observer's check
    m["cancel_ns"] = cancel.t_ns if cancel is not None else None
    return m


def _warm_engines_and_device(engines: list[str], device: str | None) -> tuple[dict[str, LocalSource], Any]:
    """Every engine loaded and warm, then the output stream running: nothing measured waits for either."""
    from ..audio.player import Player

    sources = {e: LocalSource.load(e) for e in engines}
    for src in sources.values():
        src.wait_ready(300)
        uncached(src)
    player = Player(device)
    player.start()
    return sources, player


def run_compare(engines: list[str], texts: dict[str, str], repeat: int, out_dir: Path, device: str | None,
                play_limit_s: float = 15.0, seed: int = 7, observe: bool = False, wer: int = 0
                ) -> dict[str, Any]:
    from contextlib import nullcontext

    from .observer import Observer, RunMarks, check_runs, summarize_checks

    rng = random.Random(seed)
    workers, player = _warm_engines_and_device(engines, device)
    machine = _machine(player)
    out_dir.mkdir(parents=True, exist_ok=True)
    observer = Observer.for_player(out_dir / "observer.npz", player) if observe else None
    runs: list[dict[str, Any]] = []
    plan = [(e, s, t) for e in engines for s in STRATEGIES for t in texts
            if not (s in KOKORO_ONLY and workers[e].engine.entry.engine != "kokoro")]
    total = len(plan) * repeat * 2
    t_start = time.perf_counter()
    done = 0
    transcripts: list[dict[str, Any]] = []

    def progress(m: dict[str, Any]) -> None:
        nonlocal done
        done += 1
        _progress(done, total, t_start, m)

    try:
        # The observer starts after the player, whose JACK port it connects to, and ends before it.
        with observer or nullcontext():
            for eid, strategy, tname in plan:
                runs += _run_strategy(player, workers[eid], eid, strategy, texts, tname, repeat, play_limit_s, rng,
                                      progress)
        transcripts = _wer_pass(player, workers, wer) if wer else []
    finally:
        player.close()
        for w in workers.values():
            w.stop()
    results: dict[str, Any] = {"machine": machine, "play_limit_s": play_limit_s, "repeat": repeat,
                               "texts": {k: len(v.split()) for k, v in texts.items()}, "runs": runs,
                               "summary": summarize(runs)}
    if observer is not None and observer.recording is not None:
        checks = check_runs(observer.recording, [RunMarks(r["submit_ns"], r["ttfa_audible_ms"], r["ttfa_voiced_ms"],
                                                          r["cancel_ns"], r["cancel_to_silence_ms"]) for r in runs])
        for r, c in zip(runs, checks, strict=True):
            r["observer"] = c
        results["summary"]["observer"] = summarize_checks(checks, observer.recording) | {
            "recorded": observer.source + (f" {observer.ports}" if observer.ports else "")}
    if transcripts:
        from .wer import wer_percent

        results["wer_runs"] = transcripts
        for eid, by_s in engine_summaries(results):
            for s, v in by_s.items():
                v["wer"] = wer_percent([(t["reference"], t["heard"]) for t in transcripts
                                        if t["engine"] == eid and t["strategy"] == s])
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    (out_dir / "report.md").write_text(markdown(results))
    plot_ttfa(results, out_dir / "ttfa.png")
    plot_cancel(results, out_dir / "cancel.png")
    print(markdown(results))
    return results


def _run_strategy(player: Any, w: LocalSource, eid: str, strategy: str, texts: dict[str, str], tname: str,
                  repeat: int, play_limit_s: float, rng: random.Random, progress: Any) -> list[dict[str, Any]]:
    """`repeat` pairs of runs of one text with one strategy: once in full, once interrupted at a random point."""
    key, session = strategy_session(player, w, eid, strategy)
    runs = []
    try:
        for k in range(repeat):
            for interrupt in (False, True):
                cancel_at = rng.uniform(0.5, 2.5) if interrupt else None
                m = _run_one(session, key, texts[tname], w.engine.default_voice, play_limit_s, cancel_at)
                m.update(engine=eid, strategy=strategy, text=tname, repeat=k)
                progress(m)
                runs.append(m)
    finally:
        session.close()
    return runs


def _wer_pass(player: Any, workers: dict[str, LocalSource], n_sentences: int) -> list[dict[str, Any]]:
    """Every WER sentence through every strategy, captured as the callback sent it (joins and any gaps
    included), then transcribed while nothing plays."""
    from .wer import Transcriber, load_sentences, word_errors

    sentences = load_sentences()[:n_sentences]
    asr = Transcriber()
    out = []
    for eid, w in workers.items():
        for strategy in STRATEGIES:
            if strategy in KOKORO_ONLY and w.engine.entry.engine != "kokoro":
                continue
            key, session = strategy_session(player, w, eid, strategy)
            try:
                for text in sentences:
                    player.start_capture(60.0)
                    req = session.submit(text, key, w.engine.default_voice)
                    req.finished.wait(120)
                    time.sleep(0.1)  # the last callback's block has been copied
                    audio = player.stop_capture()
                    heard = asr.transcribe(audio, player.rate)
                    errors, words = word_errors(text, heard)
                    out.append({"engine": eid, "voice": w.engine.default_voice, "strategy": strategy,
                                "reference": text, "heard": heard, "errors": errors, "words": words})
                    print(f"\r  WER {eid:6s} {strategy:18s} {len(out):3d} sentences", end="", file=sys.stderr)
            finally:
                session.close()
    print(file=sys.stderr)
    return out


def strategy_session(player: Any, w: LocalSource, eid: str, strategy: str) -> tuple[str, Any]:
    """A Session that speaks with `strategy` on the engine's warm worker. Baselines stop between chunks, as their
    originals do; no strategy uses the phrase-audio cache (its own lever is measured separately)."""
    from ..core.session import Session

    key = f"{eid}/{strategy}"
    return key, Session(player, {key: strategy_source(w, strategy)})


def strategy_source(w: LocalSource, strategy: str) -> ChunkSource:
    """The source of `strategy` on the engine's warm worker: a baseline's own (bench/baselines.py: they make
    each of their units whole and stop between chunks), or VoiceTrace's (it aborts the run in flight)."""
    kind = uncached(w).engine.entry.engine
    if strategy == "kokoro_onnx_stream":
        return KokoroOnnxStreamSource(w)
    if strategy in ("whole", "per_sentence"):
        return BaselineSource(w.worker, Chunking("whole" if strategy == "whole" else "sentence"),
                              planner_config_for(kind))
    streams = strategy_streams(strategy, w)
    return w.sharing(planner_config_for(kind, streams), stream_phrase=streams)


def _progress(done: int, total: int, t0: float, m: dict[str, Any]) -> None:
    width = 30
    filled = int(width * done / total)
    eta = (time.perf_counter() - t0) / done * (total - done)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {m['engine']:6s} {m['strategy']:18s} "
          f"{m['text']:9s} TTFA {m['ttfa_audible_ms'] or float('nan'):7.1f} ms  eta {eta:4.0f} s", end="",
          file=sys.stderr, flush=True)
    if done == total:
        print(file=sys.stderr)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in runs:
        out.setdefault(r["engine"], {}).setdefault(r["strategy"], []).append(r)
    summary: dict[str, Any] = {}
    for eid, by_s in out.items():
        summary[eid] = {}
        for s, rs in by_s.items():
            full = [r for r in rs if not r["interrupted"]]
            cut = [r for r in rs if r["interrupted"] and r["cancelled"]]
            silence = [r["cancel_to_silence_ms"] for r in cut if r["cancel_to_silence_ms"] is not None]
            summary[eid][s] = {
                "ttfa_callback_ms_median": distribution(r["ttfa_callback_ms"] for r in full)["median"],
                "ttfa_audible_ms_median": distribution(r["ttfa_audible_ms"] for r in full)["median"],
                "ttfa_audible_ms_p95": distribution(r["ttfa_audible_ms"] for r in full)["p95"],
                "rtf_median": distribution(r["rtf"] for r in full)["median"],
                "underruns": sum(r["underruns"] for r in rs),
                "underrun_ms": round(sum(r["underrun_ms"] for r in rs), 1),
                "cancel_to_silence_ms_p99": round(percentile(silence, 99), 3) if silence else None,
                "cancel_to_idle_ms_median": distribution(r["cancel_to_idle_ms"] for r in cut)["median"],
                "stale_samples": sum(r["stale_samples_after_cancel"] for r in rs),
                "ttfa_audible_ms_by_text": {t: distribution(r["ttfa_audible_ms"] for r in full if r["text"] == t)
                                            ["median"] for t in sorted({r["text"] for r in full})},
            }
    return summary


def markdown(results: dict[str, Any]) -> str:
    lines = [f"# VoiceTrace bench --compare\n\n{results['machine']}; {results['repeat']} run(s) per engine, "
             f"strategy and text, each once in full (played up to {results['play_limit_s']} s) and once "
             "interrupted 0.5–2.5 s after its first audio. Texts (words): "
             + ", ".join(f"{k} {v}" for k, v in results["texts"].items()) + ".\n"]
    for eid, by_s in engine_summaries(results):
        lines += [f"## {eid}\n", "| strategy | TTFA audible median | p95 | TTFA callback median | RTF | underruns "
                  "(gap ms) | cancel→silence p99 | cancel→engine idle median | stale | WER |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for s in STRATEGIES:
            if s not in by_s:
                continue
            v = by_s[s]
            lines.append(f"| {s} | {_ms(v['ttfa_audible_ms_median'])} | {_ms(v['ttfa_audible_ms_p95'])} | "
                         f"{_ms(v['ttfa_callback_ms_median'])} | {v['rtf_median']} | {v['underruns']} "
                         f"({v['underrun_ms']}) | {_ms(v['cancel_to_silence_ms_p99'])} | "
                         f"{_ms(v['cancel_to_idle_ms_median'])} | {v['stale_samples']} | "
                         f"{'—' if v.get('wer') is None else str(v['wer']) + ' %'} |")
        vt = by_s.get("voicetrace")
        if vt:
            lines += ["", "TTFA (audible, median) by text — and VoiceTrace's as a ratio of each baseline:", "",
                      "| text | " + " | ".join(s for s in STRATEGIES if s in by_s) + " |",
                      "|---|" + "---|" * sum(1 for s in STRATEGIES if s in by_s)]
            for t in vt["ttfa_audible_ms_by_text"]:
                cells = []
                for s in STRATEGIES:
                    if s not in by_s:
                        continue
                    x = by_s[s]["ttfa_audible_ms_by_text"].get(t)
                    mine = vt["ttfa_audible_ms_by_text"][t]
                    ratio = f" (VoiceTrace {mine / x:.2f}×)" if s != "voicetrace" and x and mine else ""
                    cells.append(f"{_ms(x)}{ratio}")
                lines.append(f"| {t} | " + " | ".join(cells) + " |")
        lines.append("")
    obs = results["summary"].get("observer")
    if obs:
        where = ("what left VoiceTrace's output port" if obs.get("recorded", "PortAudio") == "PortAudio" else
                 f"what the sound server's default sink took (JACK ports {obs['recorded']})")
        lines += ["## Independent observer\n",
                  f"A separate process (a JACK client of its own) recorded {where}, each "
                  "cycle's start read from its own callbacks; onsets and silences found in that recording, minus "
                  f"what the app reported (JACK playback latency {obs['latency_ms']} ms added to both; "
                  f"{obs['lost_blocks']} blocks lost). Largest |difference| over every figure of every run: "
                  f"{_ms(obs.get('abs_diff_ms_max'))}; runs off by more than 1 ms: {obs.get('runs_over_1ms')}, "
                  f"more than 5 ms: {obs.get('runs_over_5ms')} of {obs.get('runs_checked')} (JACK's own "
                  f"frames → time mapping strayed up to {_ms(obs.get('jack_dll_off_ms_max'))} from it):\n",
                  "| metric | runs | median difference | largest difference |", "|---|---|---|---|",
                  f"| TTFA audible (first sample) | {obs['trials']} | {_ms(obs['ttfa_diff_ms_median'])} | "
                  f"{_ms(obs['ttfa_diff_ms_max'])} |",
                  f"| TTFA voiced (> −40 dBFS) | {obs['trials']} | {_ms(obs['voiced_diff_ms_median'])} | "
                  f"{_ms(obs['voiced_diff_ms_max'])} |",
                  f"| cancel → silence | {obs['cancel_trials']} | {_ms(obs['cancel_diff_ms_median'])} | "
                  f"{_ms(obs['cancel_diff_ms_max'])} |", ""]
    return "\n".join(lines)


def engine_summaries(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(k, v) for k, v in results["summary"].items() if k not in ("observer", "wer")]


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f} ms"


def plot_ttfa(results: dict[str, Any], path: Path) -> None:
    """TTFA (audible) of every full run, one row per engine and strategy, one line of dots per text."""
    runs = [r for r in results["runs"] if not r["interrupted"] and r["ttfa_audible_ms"] is not None]
    texts = sorted({r["text"] for r in runs})
    _dot_plot(results, runs, path, "Time to first audio (audible, log scale) — every full run", 10.0,
              lambda r: [(texts.index(r["text"]), r["ttfa_audible_ms"])],
              "rows of dots per text, top to bottom: " + ", ".join(texts))


def plot_cancel(results: dict[str, Any], path: Path) -> None:
    """Cancel → silence (upper dots) and cancel → engine idle (lower) of every interrupted run."""
    runs = [r for r in results["runs"] if r["interrupted"] and r["cancelled"]]
    _dot_plot(results, runs, path, "Cancel latency (log scale) — every interrupted run", 0.1,
              lambda r: [(k, v) for k, v in enumerate((r["cancel_to_silence_ms"], r["cancel_to_idle_ms"]))
                         if v is not None],
              "upper dots: cancel → silence (at the DAC); lower: cancel → engine idle")


def _dot_plot(results: dict[str, Any], runs: list[dict[str, Any]], path: Path, title: str, lo_ms: float,
              values: Any, footer: str) -> None:
    """One row per engine and strategy, a dot per value on a log axis from `lo_ms`; drawn with Qt offscreen.
    `values(run)` gives (line within the row, ms) pairs."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtCore, QtGui, QtWidgets

    _app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    rows = [(e, s) for e, by_s in engine_summaries(results) for s in STRATEGIES if s in by_s]
    points = [(r, k, v) for r in runs for k, v in values(r)]
    if not rows or not points:
        return
    lines = max(k for _, k, _ in points) + 1
    w, row_h, left, top = 1000, 46, 250, 50
    h = top + row_h * len(rows) + 60
    img = QtGui.QImage(w, h, QtGui.QImage.Format.Format_RGB32)
    img.fill(QtGui.QColor("#15171e"))
    p = QtGui.QPainter(img)
    p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    hi = max(v for _, _, v in points)
    scale = (w - left - 40) / np.log10(max(hi, lo_ms * 2) / lo_ms)

    def x_of(ms: float) -> float:
        return left + scale * np.log10(max(ms, lo_ms) / lo_ms)

    p.setPen(QtGui.QColor("#e6e6e6"))
    p.drawText(QtCore.QRectF(0, 8, w, 30), QtCore.Qt.AlignmentFlag.AlignCenter, title)
    colors = {"whole": "#ff6b6b", "kokoro_onnx_stream": "#f0b429", "per_sentence": "#9b8cff",
              "voicetrace_whole": "#5b8def", "voicetrace": "#3ddc97"}
    for i, (e, s) in enumerate(rows):
        y = top + row_h * i + row_h / 2
        p.setPen(QtGui.QColor("#c8c8c8"))
        p.drawText(QtCore.QRectF(10, y - 12, left - 20, 24), QtCore.Qt.AlignmentFlag.AlignRight, f"{e} · {s}")
        p.setPen(QtGui.QPen(QtGui.QColor("#2a2e3a"), 1))
        p.drawLine(QtCore.QPointF(left, y), QtCore.QPointF(w - 30, y))
        p.setBrush(QtGui.QColor(colors[s]))
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        for r, k, v in points:
            if r["engine"] == e and r["strategy"] == s:
                p.drawEllipse(QtCore.QPointF(x_of(v), y + (k - (lines - 1) / 2) * 7), 4.5, 4.5)
    p.setPen(QtGui.QColor("#9aa0aa"))
    for ms in (0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000):
        if lo_ms <= ms <= hi * 1.2:
            x = x_of(ms)
            p.drawLine(QtCore.QPointF(x, h - 50), QtCore.QPointF(x, h - 44))
            label = f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"
            p.drawText(QtCore.QRectF(x - 40, h - 42, 80, 20), QtCore.Qt.AlignmentFlag.AlignCenter, label)
    p.drawText(QtCore.QRectF(left, h - 22, w - left, 20), QtCore.Qt.AlignmentFlag.AlignLeft, footer)
    p.end()
    img.save(str(path))  # the format follows the .png suffix


def _machine(player: Any) -> str:
    from .remote import _machine as cpu

    est = "; DAC times estimated: a sound server" if getattr(player, "dac_time_note", None) else ""
    return f"{cpu()}; output {player.device.name} at {player.rate} Hz ({player.output_latency_s * 1000:.1f} ms){est}"


FIRST_CHUNK_TEXT = ("When people ask a question they judge the answer by how quickly the first word arrives and how "
                    "evenly the rest of the reply follows it.")


def run_first_chunk(engines: list[str], max_words: int, repeat: int, out_dir: Path, device: str | None,
                    kokoro_modes: tuple[str, ...] = ("stream", "whole")) -> dict[str, Any]:
    """The first-chunk lever: TTFA (audible) with the first phrase fixed at 1..max_words words, everything else
    as VoiceTrace plans it. Each run is played for 2 s, then cancelled; caches off. Kokoro runs in each of
    `kokoro_modes` (stream: decoded in pieces; whole: phrase at a time), same run, same text."""
    from dataclasses import replace

    from ..core.session import Session

    workers, player = _warm_engines_and_device(engines, device)
    machine = _machine(player)
    table: dict[str, dict[int, dict[str, Any]]] = {}
    try:
        for eid, w in workers.items():
            modes = kokoro_modes if getattr(w.engine, "can_stream", False) else ("whole",)
            for mode in modes:
                row = eid if len(modes) == 1 else f"{eid} ({mode})"
                table[row] = {}
                streams = mode == "stream"
                for k in range(1, max_words + 1):
                    cfg = replace(planner_config_for(w.engine.entry.engine, streams), first_min_words=k,
                                  first_max_words=k, first_max_chars=10_000)
                    session = Session(player, {eid: w.sharing(cfg, stream_phrase=streams)})
                    try:
                        ms = [_run_one(session, eid, FIRST_CHUNK_TEXT, w.engine.default_voice, 2.0, None)
                              for _ in range(repeat)]
                    finally:
                        session.close()
                    table[row][k] = {"ttfa_audible_ms": distribution(m["ttfa_audible_ms"] for m in ms),
                                     "underruns": sum(m["underruns"] for m in ms)}
                    print(f"  {row} first phrase {k:2d} words: TTFA audible median "
                          f"{table[row][k]['ttfa_audible_ms']['median']} ms", file=sys.stderr)
    finally:
        player.close()
        for w in workers.values():
            w.stop()
    res = {"machine": machine, "text": FIRST_CHUNK_TEXT, "repeat": repeat, "first_chunk": table}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "first_chunk.json").write_text(json.dumps(res, indent=1))
    lines = [f"first-chunk lever — {machine}; {repeat} runs each", "",
             "| first phrase words | " + " | ".join(f"{e} TTFA audible median" for e in table) + " |",
             "|---|" + "---|" * len(table)]
    for k in range(1, max_words + 1):
        lines.append(f"| {k} | " + " | ".join(_ms(table[e][k]["ttfa_audible_ms"]["median"]) for e in table) + " |")
    print("\n".join(lines))
    return res
