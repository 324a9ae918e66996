"""`voicetrace app`: start the window. Also a scripted tour (`--screenshot`) that speaks, runs a short
barge-in demo and saves a screenshot of the real window, for the README and the Xvfb test."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from ..audio.devices import exit_now_if_portaudio_unsafe
from ..desk.core import DeskCore
from .window import MainWindow

STYLE = """
QWidget { font-size: 10pt; }
QMainWindow, QWidget { background: #1b1e24; color: #d7dae0; }
QPlainTextEdit, QTableWidget, QComboBox, QDoubleSpinBox, QSpinBox {
    background: #111318; color: #e6e8ec; border: 1px solid #2c313a; border-radius: 4px; }
QPlainTextEdit { font-size: 12pt; padding: 6px; }
QPushButton { background: #2a2f38; border: 1px solid #3a404b; border-radius: 6px; padding: 6px 14px; }
QPushButton:disabled { color: #6b7280; }
QPushButton#speak { background: #1f6f4f; font-size: 14pt; font-weight: bold; }
QPushButton#speak:disabled { background: #24302b; }
QPushButton#interrupt { background: #b3261e; font-size: 16pt; font-weight: bold; }
QPushButton#interrupt:focus { border: 2px solid #ffd166; }
QPushButton#interrupt:disabled { background: #3d2322; color: #8a6d6b; }
QLabel#banner { background: #5c1d1d; color: #ffd9d9; padding: 8px; border-radius: 4px; }
QLabel#counter[over="true"] { color: #ff5c5c; font-weight: bold; }
QLabel#readout { font-size: 11pt; }
QHeaderView::section { background: #2a2f38; color: #d7dae0; border: none; padding: 3px; }
QTableWidget { alternate-background-color: #171a20; gridline-color: #2c313a; }
QTabBar::tab { background: #2a2f38; padding: 5px 12px; }
QTabBar::tab:selected { background: #3a404b; }
"""


def _has_display() -> bool:
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    return bool(platform and platform != "xcb" and platform != "wayland") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def settings_for(path: str | None) -> QtCore.QSettings:
    if path:
        return QtCore.QSettings(path, QtCore.QSettings.Format.IniFormat)
    return QtCore.QSettings("VoiceTrace", "VoiceTrace")


def make_app(argv: list[str]) -> QtWidgets.QApplication:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(argv)
    assert isinstance(app, QtWidgets.QApplication)
    app.setApplicationName("VoiceTrace")
    app.setOrganizationName("VoiceTrace")
    app.setStyle("Fusion")
    app.setStyleSheet(STYLE)
    return app


class Tour:
    """Scripted for the screenshot: speak the greeting, then a short barge-in demo, then save the window."""

    def __init__(self, window: MainWindow, path: str, rounds: int) -> None:
        self.w = window
        self.path = path
        self.rounds = rounds
        self.step = "wait-ready"
        self.timer = QtCore.QTimer(window)
        self.timer.timeout.connect(self.advance)
        self.timer.start(200)

    def advance(self) -> None:
        w = self.w
        if self.step == "wait-ready" and w.speak_btn.isEnabled():
            w.speak()
            self.step = "speaking"
        elif self.step == "speaking" and not w.core.is_busy() and w.core.records:
            w.demo_tab.rounds.setValue(self.rounds)
            w.demo_tab.min_s.setValue(1.0)
            w.demo_tab.max_s.setValue(2.5)
            w.tabs.setCurrentIndex(1)
            w.toggle_demo()
            self.step = "demo"
        elif self.step == "demo" and w.demo_tab.demo is not None and w.demo_tab.demo.finished.is_set():
            # The last interrupted request stays on the timeline; speak once more and grab mid-sentence.
            w.speak()
            self.step = "final"
            self.t_final = 0
        elif self.step == "final":
            self.t_final += 1
            if self.t_final >= 9:  # ~1.8 s into the last request: graphs and highlight are live
                self.save()
                self.step = "done"
                w.close()

    def save(self) -> None:
        screen = self.w.screen()
        shot = screen.grabWindow(0) if QtGui.QGuiApplication.platformName() == "xcb" else self.w.grab()
        geo = self.w.frameGeometry()
        if QtGui.QGuiApplication.platformName() == "xcb":
            shot = shot.copy(geo)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        shot.save(self.path, "PNG")


def main(args: argparse.Namespace) -> int:
    if not _has_display():
        print("voicetrace: error: no display to open the window on (DISPLAY / WAYLAND_DISPLAY are unset); "
              "run it on a desktop, or use `voicetrace speak --sample` in a terminal", file=sys.stderr)
        return 2
    app = make_app(sys.argv[:1])
    core = DeskCore(metrics_log=args.metrics_log or os.environ.get("VOICETRACE_METRICS_LOG") or None)
    window = MainWindow(core, settings_for(args.settings), engine=args.engine, greet=args.greet,
                        remote_url=args.remote, remote_token=args.token)
    if args.screenshot:  # at the size the window picks for the screen it opens on (the README's: 1280×720)
        tour = Tour(window, args.screenshot, args.tour_rounds)

        def give_up() -> None:  # never hang a test: show where it stuck, and fail
            tour.save()
            print(f"voicetrace: error: the tour stopped at {tour.step!r}: {window.banner.text() or 'no message'}",
                  file=sys.stderr)
            app.exit(1)

        QtCore.QTimer.singleShot(int(args.timeout * 1000), give_up)
    window.show()
    code = int(app.exec())
    exit_now_if_portaudio_unsafe(code)
    return code
