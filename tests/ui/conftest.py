"""The window as the UI tests open it: on the test lane's device, with settings of its own."""

from __future__ import annotations

import pytest
from PySide6 import QtCore

from voicetrace.desk.core import DeskCore
from voicetrace.ui.window import MainWindow


@pytest.fixture()
def window_with(qtbot, jack, tmp_path):
    """`window_with(engines, text)`: the main window over those sources (Piper selected), shown, ready to speak,
    `text` in its editor; closed after the test."""
    made: list[MainWindow] = []

    def make(engines: dict, text: str) -> MainWindow:
        core = DeskCore(engines=engines, metrics_log=None)
        w = MainWindow(core, QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat), "piper")
        qtbot.addWidget(w)
        w.show()
        qtbot.waitUntil(lambda: w.speak_btn.isEnabled(), timeout=20_000)
        w.editor.setPlainText(text)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()
