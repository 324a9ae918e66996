"""`voicetrace bench --suite window`: the voice from the window against the voice from the command line, where
users run them. The real window (its greeting, then the bench's paragraphs, each typed into it and spoken with its
own Speak) under Xvfb at 1280×720 with a window manager, painting to X; after each paragraph the same text from
`voicetrace speak` in a fresh process. Per engine: TTFA and RTF (the records' own), underruns, the Qt thread's
and the X server's CPU while speaking, and the window's CPU at idle (OS counters)."""

from __future__ import annotations

import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from ..errors import UserError
from .compare import TEXTS_DIR
from .files import save_results
from .window_driver import PREFIX


def bench_paragraphs(n: int) -> list[str]:
    """paragraph.txt, then article.txt's paragraphs: ten of 53-147 words."""
    paras = [TEXTS_DIR.joinpath("paragraph.txt").read_text(encoding="utf-8").strip()]
    paras += [p.strip() for p in TEXTS_DIR.joinpath("article.txt").read_text(encoding="utf-8").split("\n\n")
              if p.strip()]
    return paras[:n]


def _answer(lines: queue.Queue[str | None], timeout_s: float, what: str) -> dict[str, Any]:
    """The driver's next JSON line (other output is the engines'), from `_lines`."""
    end = time.monotonic() + timeout_s
    while (left := end - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            raise RuntimeError(f"the window exited while {what}")
        if line.startswith(PREFIX):
            row: dict[str, Any] = json.loads(line[len(PREFIX):])
            if row.get("kind") == "error":
                raise UserError(f"the window could not speak while {what}: {row['message']}")
            return row
    raise RuntimeError(f"no answer from the window while {what} within {timeout_s:.0f} s")


def _lines(out: IO[str]) -> queue.Queue[str | None]:
    """The child's output, line by line, read on a thread of its own (a read with a timeout; None: it ended)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in out:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _cli(engine: str, text: str, env: dict[str, str]) -> dict[str, Any]:
    """`voicetrace speak` in a fresh process, as a user runs it (warm before it speaks): its JSON record."""
    done = subprocess.run([sys.executable, "-m", "voicetrace", "speak", "--engine", engine, "--json", "-"],
                          input=text, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"voicetrace speak failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    rec: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return {k: rec.get(k) for k in ("engine", "outcome", "ttfa_audible_ms", "rtf", "underruns", "underrun_ms",
                                    "audio_ms")}


def _median(rows: list[dict[str, Any]], key: str, digits: int = 3) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return round(statistics.median(vals), digits) if vals else None


def run_engine(engine: str, paragraphs: list[str], idle: bool = True) -> dict[str, Any]:
    from ..testing.xdisplay import virtual_desktop

    with virtual_desktop(1280, 720) as screen:
        env = dict(screen.env, PYTHONUNBUFFERED="1")
        child = subprocess.Popen([sys.executable, "-m", "voicetrace.bench.window_driver", "--engine", engine,
                                  "--xserver-pid", str(screen.xserver_pid)], env=env, text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert child.stdin is not None and child.stdout is not None
        lines = _lines(child.stdout)
        try:
            greeting = _answer(lines, 600, "loading and greeting")
            _answer(lines, 600, "loading the other engines")
            window, cli = [], []
            for i, text in enumerate(paragraphs):
                child.stdin.write(json.dumps({"speak": text}) + "\n")
                child.stdin.flush()
                window.append(_answer(lines, 900, f"speaking paragraph {i + 1}"))
                cli.append(_cli(engine, text, screen.env))
                print(f"  {engine} paragraph {i + 1}: window {_line(window[-1])} | cli {_line(cli[-1])}",
                      flush=True)
            idle_row = None
            if idle:
                child.stdin.write(json.dumps({"idle": 10}) + "\n")
                child.stdin.flush()
                idle_row = _answer(lines, 120, "idle")
            child.stdin.write(json.dumps({"quit": True}) + "\n")
            child.stdin.flush()
            child.wait(60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    return {"engine": engine, "greeting": greeting, "window": window, "cli": cli, "idle": idle_row}


def _line(r: dict[str, Any]) -> str:
    ttfa = r.get("ttfa_audible_ms")
    qt = f", Qt {r['qt_pct']} %" if "qt_pct" in r else ""
    return f"TTFA {ttfa:.0f} ms, RTF {r.get('rtf') or 0:.2f}, {r.get('underruns')} underruns{qt}" if ttfa else \
        f"{r.get('outcome')} (no audio)"


def summary(res: dict[str, Any]) -> dict[str, Any]:
    w, c = res["window"], res["cli"]
    row: dict[str, Any] = {"engine": res["engine"]}
    for key, digits in (("ttfa_audible_ms", 0), ("rtf", 3)):
        row[f"window_{key}"], row[f"cli_{key}"] = _median(w, key, digits), _median(c, key, digits)
        a, b = row[f"window_{key}"], row[f"cli_{key}"]
        row[f"{key}_ratio"] = round(a / b, 2) if a and b else None
    row["qt_pct_median"], row["qt_pct_max"] = _median(w, "qt_pct"), max((r["qt_pct"] for r in w), default=None)
    row["xserver_pct_median"] = _median([{"x": sum(r["others_pct"].values())} for r in w], "x")
    row["window_underruns"] = sum(r["underruns"] for r in w)
    row["greeting_underruns"] = res["greeting"]["underruns"]
    row["cli_underruns"] = sum(r["underruns"] or 0 for r in c)
    row["idle_process_pct"] = res["idle"]["process_pct"] if res.get("idle") else None
    return row


def report(rows: list[dict[str, Any]], n: int) -> str:
    head = (f"## The window vs the command line ({n} paragraphs each, Xvfb 1280×720 + openbox, "
            f"{os.cpu_count()} cores)\n\n"
            "| engine | TTFA window / CLI (ms, median) | ratio | RTF window / CLI | ratio | Qt thread % (median, max) "
            "| X server % | underruns window (+ greeting) / CLI | idle % |\n|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r['engine']} | {r['window_ttfa_audible_ms']} / {r['cli_ttfa_audible_ms']} | {r['ttfa_audible_ms_ratio']} "
        f"| {r['window_rtf']} / {r['cli_rtf']} | {r['rtf_ratio']} | {r['qt_pct_median']}, {r['qt_pct_max']} "
        f"| {r['xserver_pct_median']} | {r['window_underruns']} (+ {r['greeting_underruns']}) / {r['cli_underruns']} "
        f"| {r['idle_process_pct']} |\n" for r in rows)
    return head + body + ("\nTTFA is the audible one (the callback's DAC time), RTF the records' own; CPU from "
                          "the OS's per-thread counters while each paragraph spoke.\n")


def run_window_suite(engines: list[str], paragraphs: int, out_dir: Path) -> dict[str, Any]:
    if not 1 <= paragraphs <= 10:
        raise UserError("--paragraphs must be 1-10", "the bench has ten paragraphs")
    from ..testing.xdisplay import missing_tools

    if missing := missing_tools():
        raise UserError(f"{', '.join(missing)} missing: the window suite runs the window on a virtual desktop",
                        "install xvfb and openbox (`make setup-test` does)")
    texts = bench_paragraphs(paragraphs)
    results = [run_engine(e, texts) for e in engines]
    rows = [summary(r) for r in results]
    res = {"paragraphs": paragraphs, "cores": os.cpu_count(), "engines": results, "summary": rows}
    save_results(out_dir, "window", res, report(rows, paragraphs))
    return res
