"""What the window keeps between runs: one table of keys, each with the widget that shows it, read once when the
window opens and written once when it closes. The layout is kept per screen size (a laptop's and a projector's
each come back as they were left)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6 import QtCore, QtWidgets

WELCOME = ("Hello! This is VoiceTrace. Type or paste text here, press Speak, and watch how fast the first "
           "sound comes. Press Interrupt, or Escape, to cut me off and see how fast I go quiet.")


@dataclass(frozen=True)
class Setting:
    key: str
    widget: str  # the window's attribute path to the widget that shows it (dotted: a part's widget)
    kind: type  # str | int | float | bool: how the stored text is read back
    default: Any
    restore: bool = True  # False: read where it is needed (a device, once the list of devices is known)
    quiet: bool = False  # restored without the widget's signals (it would act, not just show)


SETTINGS = (
    Setting("text", "editor", str, WELCOME),  # nothing typed is lost between runs
    Setting("speed", "engines.speed_box", float, 1.0),
    Setting("volume", "outputs.volume", int, 100),
    Setting("kokoro/stream", "engines.kokoro_stream", bool, True),
    Setting("demo/rounds", "demo_tab.rounds", int, 10),
    Setting("demo/min_s", "demo_tab.min_s", float, 1.0),
    Setting("demo/max_s", "demo_tab.max_s", float, 3.0),
    Setting("remote/url", "engines.remote_url", str, ""),  # a URL given on the command line wins
    Setting("chat/url", "stream_tab.chat_url", str, ""),  # the API key is not kept
    Setting("chat/model", "stream_tab.chat_model", str, ""),
    Setting("chat/simulated_rate", "stream_tab.sim_rate", int, 30),
    Setting("voice_barge_in/headphones", "voice_row.headphones", bool, False, quiet=True),  # listening starts off
    Setting("device", "outputs.box", str, "", restore=False),
    Setting("input_device", "voice_row.inputs", str, "", restore=False),
)


def _widget(root: QtCore.QObject, path: str) -> QtWidgets.QWidget:
    obj: Any = root
    for name in path.split("."):
        obj = getattr(obj, name)
    assert isinstance(obj, QtWidgets.QWidget), path
    return obj


def _read(value: Any, kind: type) -> Any:
    if kind is bool:
        return str(value).lower() == "true"  # an INI file gives back "true" / "false"
    return kind(value)


def restore(root: QtCore.QObject, settings: QtCore.QSettings) -> None:
    for s in SETTINGS:
        if not s.restore:
            continue
        w = _widget(root, s.widget)
        value = _read(settings.value(s.key, s.default), s.kind)
        blocked = w.blockSignals(True) if s.quiet else None
        if isinstance(w, QtWidgets.QPlainTextEdit):
            w.setPlainText(value)
        elif isinstance(w, QtWidgets.QLineEdit):
            if not w.text():
                w.setText(value)
        elif isinstance(w, QtWidgets.QAbstractButton):
            w.setChecked(value)
        elif isinstance(w, QtWidgets.QSpinBox | QtWidgets.QDoubleSpinBox | QtWidgets.QSlider):
            w.setValue(value)
        if blocked is not None:
            w.blockSignals(blocked)


def save(root: QtCore.QObject, settings: QtCore.QSettings) -> None:
    for s in SETTINGS:
        w = _widget(root, s.widget)
        if isinstance(w, QtWidgets.QPlainTextEdit):
            settings.setValue(s.key, w.toPlainText())
        elif isinstance(w, QtWidgets.QLineEdit):
            settings.setValue(s.key, w.text())
        elif isinstance(w, QtWidgets.QAbstractButton):
            settings.setValue(s.key, w.isChecked())
        elif isinstance(w, QtWidgets.QSpinBox | QtWidgets.QDoubleSpinBox | QtWidgets.QSlider):
            settings.setValue(s.key, w.value())
        elif isinstance(w, QtWidgets.QComboBox) and w.currentData() is not None:  # a device the list had
            settings.setValue(s.key, w.currentText())


def restore_layout(window: QtWidgets.QMainWindow, settings: QtCore.QSettings, key: str, top: QtWidgets.QSplitter,
                   main: QtWidgets.QSplitter) -> bool:
    """The window's geometry and splitters (`top`: editor | graphs, `main`: above | tabs) as left on a screen of
    this size (`key`). False: none was kept, so the window is as large as fits the screen, up to 1440×900."""
    geom = settings.value(f"{key}/geometry")
    restored = isinstance(geom, QtCore.QByteArray) and window.restoreGeometry(geom)
    if not restored:
        avail = window.screen().availableGeometry()
        window.resize(min(1440, int(avail.width() * 0.95)), min(900, int(avail.height() * 0.92)))
        top.setSizes([int(window.width() * 0.42), int(window.width() * 0.58)])
        main.setSizes([int(window.height() * 0.74), int(window.height() * 0.26)])
    for name, split in (("splitter", main), ("top_splitter", top)):
        state = settings.value(f"{key}/{name}")
        if isinstance(state, QtCore.QByteArray):
            split.restoreState(state)
    return restored


def save_layout(window: QtWidgets.QMainWindow, settings: QtCore.QSettings, key: str, top: QtWidgets.QSplitter,
                main: QtWidgets.QSplitter) -> None:
    settings.setValue(f"{key}/geometry", window.saveGeometry())
    settings.setValue(f"{key}/splitter", main.saveState())
    settings.setValue(f"{key}/top_splitter", top.saveState())
