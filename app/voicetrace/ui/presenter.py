"""The presenter view (F11): for demoing barge-in in front of people. The last request's TTFA, cancel → silence
and stale samples in type readable from the back of a room, above the TTFA and cancel graphs of every request
so far; Speak (Ctrl+Enter) and Interrupt (Esc) stay on the keyboard. It draws records only: nothing here
measures."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ..contract import RequestMetrics
from ..core.report import distribution
from .graphs import HistoryPlots

BIG_PT = 44
GOOD, BAD = "#3ecf8e", "#ff5c5c"


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
        last = records[-1]
        self.ttfa.setText("—" if last.ttfa_audible_ms is None else f"{last.ttfa_audible_ms:.0f} ms")
        cancels = [r for r in records if r.cancelled]
        if cancels:
            c = cancels[-1]
            self.silence.setText("—" if c.cancel_to_silence_ms is None else f"{c.cancel_to_silence_ms:.0f} ms")
            stale = c.stale_samples_after_cancel
            self.stale.setText(str(stale))
            self.stale.setStyleSheet(f"font-size: {BIG_PT}pt; font-weight: 600; color: {GOOD if stale == 0 else BAD};")
        med = distribution(r.ttfa_audible_ms for r in records if r.engine == last.engine)
        sil = distribution(r.cancel_to_silence_ms for r in cancels)
        parts = [f"{last.engine}: {len(records)} requests"]
        if med["n"]:
            parts.append(f"TTFA median {med['median']:.0f} ms")
        if sil["n"]:
            parts.append(f"{sil['n']} interrupts, cancel → silence median {sil['median']:.0f} ms")
        self.summary.setText("  ·  ".join(parts))
