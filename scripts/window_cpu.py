"""The window's own CPU where users run it: the real window under Xvfb (1280×720) with openbox, Kokoro speaking
a paragraph from it (its own Speak), the OS's per-thread counters read from /proc (the Qt thread is the main
thread: its TID is the PID), and the X server's CPU. Then idle: the whole process from 10 s after the last
request, for 10 s. One JSON line per request and one for idle.

    PYTHONPATH=app JACK_DEFAULT_SERVER=voicetrace-test python scripts/window_cpu.py [--runs 3] [--engine kokoro]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def _ticks(path: str) -> int:
    """utime + stime of /proc/…/stat, in clock ticks."""
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def threads(pid: int) -> dict[str, int]:
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            out[f"{tid}:{name}"] = _ticks(f"/proc/{pid}/task/{tid}/stat")
        except OSError:
            pass
    return out


def start_x() -> tuple[str, list[subprocess.Popen]]:
    r, w = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as fh:
        display = ":" + fh.readline().strip()
    env = dict(os.environ, DISPLAY=display)
    wm = subprocess.Popen(["openbox", "--sm-disable"], env=env, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return display, [wm, xvfb]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--engine", default="kokoro")
    ap.add_argument("--text", default=str(ROOT / "assets" / "paragraph_150.txt"))
    ap.add_argument("--idle", action="store_true", help="also measure idle from 10 s after the last request")
    ap.add_argument("--spy", default="", help="py-spy --native record of the Qt thread while speaking, to this file")
    args = ap.parse_args()
    for k in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY"):
        os.environ.pop(k, None)
    display, procs = start_x()
    os.environ["DISPLAY"] = display
    from PySide6 import QtCore

    from voicetrace.desk.core import DeskCore
    from voicetrace.ui.app import make_app
    from voicetrace.ui.window import MainWindow

    app = make_app(sys.argv[:1])
    core = DeskCore()
    settings = QtCore.QSettings(tempfile.mktemp(suffix=".ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(core, settings, engine=args.engine)
    w.show()
    text = Path(args.text).read_text()
    pid, xpid = os.getpid(), procs[1].pid
    state: dict = {"step": "wait", "run": 0}
    out: list[dict] = []
    spy: subprocess.Popen | None = None

    def sample() -> tuple[float, dict[str, int], int]:
        return time.monotonic(), threads(pid), _ticks(f"/proc/{xpid}/stat")

    def report(kind: str, a, b, extra: dict) -> dict:
        wall = b[0] - a[0]
        per = {k: (b[1][k] - a[1].get(k, 0)) / TICK / wall for k in b[1]}
        qt = per.get(next(k for k in per if k.startswith(f"{pid}:")), 0.0)
        top = sorted(per.items(), key=lambda kv: -kv[1])[:5]
        row = {"kind": kind, "wall_s": round(wall, 1), "qt_pct": round(100 * qt, 1),
               "process_pct": round(100 * sum(per.values()), 1),
               "xvfb_pct": round(100 * (b[2] - a[2]) / TICK / wall, 1),
               "top": {k.split(":", 1)[1] + "#" + k.split(":")[0]: round(100 * v, 1) for k, v in top}, **extra}
        print(json.dumps(row), flush=True)
        return row

    def step() -> None:
        nonlocal spy
        s = state["step"]
        if s == "wait" and w.speak_btn.isEnabled():
            w.editor.setPlainText(text)
            state["step"] = "settle"
            state["until"] = time.monotonic() + 3.0
        elif s == "settle" and time.monotonic() > state["until"] and not core.is_busy():
            n = len(core.records)
            state.update(step="speaking", n=n, a=sample())
            if args.spy and spy is None:
                spy = subprocess.Popen(["/work/main/.venv/bin/py-spy", "record", "--native", "-r", "50", "-p",
                                        str(pid), "-o", args.spy, "-f", "speedscope", "-d", "20"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            w.speak()
        elif s == "speaking" and len(core.records) > state["n"]:
            rec = core.records[-1]
            out.append(report("speaking", state["a"], sample(),
                              {"engine": rec.engine, "outcome": rec.outcome, "ttfa_audible_ms": rec.ttfa_audible_ms,
                               "rtf": rec.rtf, "underruns": rec.underruns, "progress": w.progress.text()}))
            state["run"] += 1
            if state["run"] < args.runs:
                state.update(step="settle", until=time.monotonic() + 2.0)
            elif args.idle:
                state.update(step="idle-wait", until=time.monotonic() + 10.0)
                driver.setInterval(1000)  # the driver itself stays out of the idle figure
            else:
                state["step"] = "end"
        elif s == "idle-wait" and time.monotonic() > state["until"]:
            state.update(step="idle", a=sample(), until=time.monotonic() + 10.0)
        elif s == "idle" and time.monotonic() > state["until"]:
            out.append(report("idle 10-20 s after", state["a"], sample(), {}))
            state["step"] = "end"
        if state["step"] == "end":
            w.close()
            app.quit()

    driver = QtCore.QTimer()
    driver.timeout.connect(step)
    driver.start(100)
    QtCore.QTimer.singleShot(600_000, app.quit)
    app.exec()
    if spy is not None:
        spy.wait(60)
    for p in procs:
        p.terminate()
        p.wait(10)
    return 0 if out else 1


if __name__ == "__main__":
    sys.exit(main())
