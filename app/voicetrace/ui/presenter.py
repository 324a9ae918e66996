"""The presenter view (F11): for demoing barge-in in front of people. The last request's TTFA, cancel → silence
and stale samples in type readable from the back of a room, above the TTFA and cancel graphs of every request
so far; Speak (Ctrl+Enter) and Interrupt (Esc) stay on the keyboard. It draws records only: nothing here
measures."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ..contract import RequestMetrics
from ..desk.readout import BAD, GOOD, presenter_figures
from .graphs import HistoryPlots

BIG_PT = 44


def _figure(caption: str) -> tuple[QtWidgets.QWidget, QtWidgets.QLabel]:
    box = QtWidgets.QWidget()
    v = QtWidgets.QVBoxLayout(box)
    value = QtWidgets.QLabel("—")
    value.setObjectName("presenterValue")
    value.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
    value.setStyleSheet(f"font-size: {BIG_PT}pt; font-weight: 600;")
    label = QtWidgets.QLabel(caption)
    label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
    label.setStyleSheet("font-size: 16pt; color: #9aa0aa;")
    v.addWidget(value)
    v.addWidget(label)
    return box, value


class PresenterView(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        figures = QtWidgets.QHBoxLayout()
        box, self.ttfa = _figure("time to first audio")
        figures.addWidget(box)
        box, self.silence = _figure("cancel → silence")
        figures.addWidget(box)
        box, self.stale = _figure("stale samples after the cancel")
        figures.addWidget(box)
        self.summary = QtWidgets.QLabel(" ")
        self.summary.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("font-size: 16pt;")
        keys = QtWidgets.QLabel("Ctrl+Enter speak  ·  Esc interrupt  ·  Space pause  ·  F11 back to the window")
        keys.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        keys.setStyleSheet("font-size: 12pt; color: #9aa0aa;")
        self.history = HistoryPlots()
        plots = QtWidgets.QHBoxLayout()
        plots.addWidget(self.history.ttfa)
        plots.addWidget(self.history.cancel)
        v = QtWidgets.QVBoxLayout(self)
        v.addLayout(figures)
        v.addWidget(self.summary)
        v.addLayout(plots, 1)
        v.addWidget(keys)

    def show_records(self, records: list[RequestMetrics]) -> None:
        self.history.set_history(records)
        if not records:
            return
        figures = presenter_figures(records)
        self.ttfa.setText(figures.ttfa)
        if figures.silence is not None:
            self.silence.setText(figures.silence)
        if figures.stale is not None:
            self.stale.setText(str(figures.stale))
            color = GOOD if figures.stale == 0 else BAD
            self.stale.setStyleSheet(f"font-size: {BIG_PT}pt; font-weight: 600; color: {color};")
        self.summary.setText(figures.summary)
