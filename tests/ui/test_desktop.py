"""The real window as a person at a 1280×720 screen meets it: Xvfb with a window manager (openbox, which gives
keyboard focus as a desktop does), the app started as `voicetrace app`, driven only by xdotool's keystrokes.
The window fits the screen; typed text is spoken (Ctrl+Enter); Space pauses and Ctrl+Space resumes; Esc
interrupts with no stale sample; a screenshot of the whole screen is saved to
build/test-output/desktop-1280x720.png for anyone to look at."""

from __future__ import annotations

import itertools
import json
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from voicetrace.testing.xdisplay import missing_tools, virtual_desktop

pytestmark = [pytest.mark.audio, pytest.mark.models]

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "test-output"
W, H = 1280, 720
TYPED = "Typed by xdotool into the real window."
PARAGRAPH = ("This paragraph is long enough to pause in the middle of it, and then to resume it, and then to "
             "interrupt it before it ends, all from the keyboard.")


def _records(log: Path) -> list[dict]:
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


def _wait(pred, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture()
def desktop(jack, tmp_path) -> Iterator[dict[str, str]]:
    if missing := missing_tools("xdotool"):
        pytest.fail(f"{', '.join(missing)} missing: run `make setup-test` (it installs xvfb, openbox, xdotool)")
    with virtual_desktop(W, H) as screen:
        yield screen.env


def _xdo(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=90,
                          check=True).stdout


def _screenshot(env: dict[str, str], path: Path) -> tuple[int, int]:
    """The whole X screen, as a person sees it (window manager's frame included), grabbed by Qt on X."""
    code = ("import sys; from PySide6 import QtWidgets; a = QtWidgets.QApplication([]); "
            "sys.exit(0 if a.primaryScreen().grabWindow(0).save(sys.argv[1], 'PNG') else 1)")
    subprocess.run([sys.executable, "-c", code, str(path)], env=env, check=True, timeout=60)
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_the_window_at_1280x720_driven_by_the_keyboard(desktop, tmp_path):
    env = desktop
    log = tmp_path / "metrics.jsonl"
    app = subprocess.Popen([sys.executable, "-m", "voicetrace", "app", "--engine", "piper", "--settings",
                            str(tmp_path / "s.ini"), "--metrics-log", str(log)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wid = _xdo(env, "search", "--sync", "--onlyvisible", "--name", "^VoiceTrace$").split()[0]
        geo = dict(line.split("=") for line in _xdo(env, "getwindowgeometry", "--shell", wid).split())
        x, y, width, height = (int(geo[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
        assert x >= 0 and y >= 0 and x + width <= W and y + height <= H, geo  # the whole window is on screen
        assert _xdo(env, "getactivewindow").split()[0] == wid  # the window manager gave it the focus

        # Replace the text by typing, then Ctrl+Enter until the engine is warm and it has been spoken.
        _xdo(env, "key", "--clearmodifiers", "ctrl+a")
        _xdo(env, "type", "--delay", "5", TYPED)
        end = time.monotonic() + 90
        while not any(r["outcome"] == "done" for r in _records(log)):
            assert time.monotonic() < end, "the typed text was never spoken"
            _xdo(env, "key", "--clearmodifiers", "ctrl+Return")
            time.sleep(3)
        done = next(r for r in _records(log) if r["outcome"] == "done")
        assert done["text_chars"] == len(TYPED) and done["engine"] == "piper" and done["underruns"] == 0

        # Pause with Space (focus left the editor on Speak), resume with Ctrl+Space, interrupt with Esc.
        n = len(_records(log))
        _xdo(env, "mousemove", "--window", wid, "200", "120", "click", "1")  # back into the editor, as a person
        _xdo(env, "key", "--clearmodifiers", "ctrl+a")
        _xdo(env, "type", "--delay", "2", PARAGRAPH)
        _xdo(env, "key", "--clearmodifiers", "ctrl+Return")
        time.sleep(1.5)
        _xdo(env, "key", "--clearmodifiers", "space")
        time.sleep(1.2)
        OUT.mkdir(parents=True, exist_ok=True)
        shot = OUT / "desktop-1280x720.png"
        assert _screenshot(env, shot) == (W, H)
        _xdo(env, "key", "--clearmodifiers", "ctrl+space")
        time.sleep(1.0)
        _xdo(env, "key", "--clearmodifiers", "Escape")
        _wait(lambda: len(_records(log)) > n, 20, "the interrupted request's record")
        rec = _records(log)[-1]
        assert rec["outcome"] == "cancelled" and rec["stale_samples_after_cancel"] == 0
        assert rec["pauses"] == 1 and rec["paused_ms"] > 800 and rec["underruns"] == 0
        assert rec["text_chars"] == len(PARAGRAPH)
    finally:
        app.terminate()
        try:
            _, err = app.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            app.kill()
            _, err = app.communicate()
    assert "Traceback" not in err, err[-3000:]


LABELS = r"""
import json, sys
from PySide6 import QtCore, QtGui
from voicetrace.core.timeline import Timeline
from voicetrace.desk.core import DeskCore
from voicetrace.testing.fakes import fake_source
from voicetrace.ui.app import make_app
from voicetrace.ui.window import MainWindow

app = make_app(sys.argv[:1])
core = DeskCore(engines={"piper": fake_source(), "kokoro": fake_source()})
w = MainWindow(core, QtCore.QSettings(sys.argv[1], QtCore.QSettings.Format.IniFormat), "piper")
w.show()
tl = Timeline(0, 24_000)  # 50 chunks of 300 ms, each made in 100 ms
for i in range(50):
    tl.synth[i] = (100.0 * i, 100.0 * i + 100)
    tl.play[i] = (300.0 * i + 200, 300.0 * i + 500)
tl.end_ms = 15_300.0


def look() -> None:
    w.graphs.set_timeline(tl, 15_300.0)
    app.processEvents()
    axis = w.graphs.chunks.getPlotItem().getAxis("left")
    image = QtGui.QImage(axis.size().toSize(), QtGui.QImage.Format.Format_ARGB32)
    painter = QtGui.QPainter(image)
    painter.setFont(axis.style.get("tickFont") or axis.font())
    _, _, texts = axis.generateDrawSpecs(painter)
    painter.end()
    rects = sorted((r.top(), r.bottom(), t) for r, _, t in texts)
    print(json.dumps({"window": [w.width(), w.height()], "plot": w.graphs.chunks.getViewBox().height(),
                      "labels": rects}))
    app.quit()


QtCore.QTimer.singleShot(1500, look)
app.exec()
"""


def test_the_chunk_timeline_stays_readable_at_50_chunks(desktop, tmp_path):
    """At the size the window takes on a 1280×720 screen under a window manager, the chunk timeline of a
    50-chunk request labels every Nth chunk, and no two of its y-axis labels overlap."""
    out = subprocess.run([sys.executable, "-c", LABELS, str(tmp_path / "s.ini")], env=desktop, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    labels = seen["labels"]
    assert seen["window"][0] <= W and seen["window"][1] <= H
    assert len(labels) >= 2, seen  # chunks are still labelled...
    assert [int(t) for *_, t in labels][-1] >= 25  # ...down the whole request
    for (_, bottom, a), (top, _, b) in itertools.pairwise(labels):
        assert bottom <= top + 0.5, (a, b, seen)  # ...and none overlaps the next
