"""Inside the window's process for `voicetrace bench --suite window`: the real window (its own greeting, its own
Speak), driven from standard input, one JSON command a line, answering one JSON line each on standard output
(prefixed `VTBENCH `: the engines may print too). Per request: the record's TTFA, RTF and underruns and the OS's
CPU counters while it spoke (the Qt thread, the process, the X server).

    {"speak": TEXT}  → {"kind": "speak", …}     {"idle": S} → the process's CPU over S s, from S s after the last
    request                                     {"quit": true}
First it answers {"kind": "greeting", …} once the greeting has played, and {"kind": "ready"} once every engine the
window loads after it has loaded."""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

PREFIX = "VTBENCH "


def emit(row: dict[str, Any]) -> None:
    sys.stdout.write(PREFIX + json.dumps(row) + "\n")
    sys.stdout.flush()


def figures(rec: Any) -> dict[str, Any]:
    return {"engine": rec.engine, "outcome": rec.outcome, "ttfa_audible_ms": rec.ttfa_audible_ms, "rtf": rec.rtf,
            "underruns": rec.underruns, "underrun_ms": rec.underrun_ms, "audio_ms": rec.audio_ms,
            "error": rec.error}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", default="kokoro")
    ap.add_argument("--xserver-pid", type=int, default=0)
    ap.add_argument("--spy", default="", help="py-spy --native record of the process while it speaks, to this file")
    args = ap.parse_args(argv)
    from PySide6 import QtCore

    from ..desk.core import PRELOAD, DeskCore
    from ..ui.app import make_app
    from ..ui.window import MainWindow
    from .threadcpu import sample, usage

    app = make_app(sys.argv[:1])
    core = DeskCore()
    settings = QtCore.QSettings(tempfile.mktemp(suffix=".ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(core, settings, engine=args.engine, greet=True)
    w.show()
    pid = os.getpid()
    others = (args.xserver_pid,) if args.xserver_pid else ()
    commands: queue.Queue[dict[str, Any]] = queue.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            if line.strip():
                commands.put(json.loads(line))
        commands.put({"quit": True})

    threading.Thread(target=read_stdin, daemon=True).start()
    state: dict[str, Any] = {"step": "greeting", "n": 0, "spy": None}

    def loaded() -> bool:
        return all(core.engine_status(e).state in ("ready", "error") for e in PRELOAD if e in w.engines.entries)

    def step() -> None:
        s = state["step"]
        now = time.monotonic()
        if s == "greeting" and core.records:
            emit({"kind": "greeting", **figures(core.records[-1])})
            state["step"] = "loading"
        elif s in ("greeting", "loading") and w.banner.text() and not core.is_busy():
            # what stops the window speaking (no output device, an engine that failed) stops the bench: said
            state.setdefault("banner_since", now)
            if now - state["banner_since"] > 3.0:
                emit({"kind": "error", "message": w.banner.text()})
                state["step"] = "end"
        elif s == "loading" and loaded() and not core.is_busy():
            emit({"kind": "ready"})
            state.update(step="wait", last=now)
        elif s == "wait" and not commands.empty():
            cmd = commands.get()
            if cmd.get("quit"):
                state["step"] = "end"
            elif "speak" in cmd:
                w.editor.setPlainText(cmd["speak"])
                state.update(step="settle", until=now + 2.0)
            elif "idle" in cmd:
                driver.setInterval(1000)  # the driver stays out of the idle figure
                state.update(step="idle-wait", until=state["last"] + cmd["idle"], span=cmd["idle"])
        elif s == "settle" and now > state["until"] and not core.is_busy():
            state.update(step="speaking", n=len(core.records), a=sample(pid, others))
            if args.spy and state["spy"] is None:
                state["spy"] = subprocess.Popen(["py-spy", "record", "--native", "-r", "50", "-p", str(pid), "-o",
                                                 args.spy, "-f", "speedscope", "-d", "20"],
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            w.speak()
        elif s == "speaking" and len(core.records) > state["n"]:
            used = usage(state["a"], sample(pid, others), pid)
            emit({"kind": "speak", **figures(core.records[-1]), **used, "progress": w.progress.text()})
            state.update(step="wait", last=time.monotonic())
        elif s == "idle-wait" and now > state["until"]:
            state.update(step="idle", a=sample(pid, others), until=now + state["span"])
        elif s == "idle" and now > state["until"]:
            emit({"kind": "idle", **usage(state["a"], sample(pid, others), pid)})
            driver.setInterval(200)
            state.update(step="wait", last=time.monotonic())
        if state["step"] == "end":
            driver.stop()
            w.close()
            app.quit()

    driver = QtCore.QTimer()
    driver.timeout.connect(step)
    driver.start(200)
    app.exec()
    if state["spy"] is not None:
        state["spy"].wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
