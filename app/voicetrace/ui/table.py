"""The metrics table: the last requests, newest first, one column per metric (report.COLUMNS)."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from ..contract import RequestMetrics
from ..core.report import COLUMNS, flat_row

SHOWN = 200


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


class MetricsTable(QtWidgets.QTableWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels([h for h, _ in COLUMNS])
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setStretchLastSection(True)

    def set_records(self, records: list[RequestMetrics]) -> None:
        rows = list(reversed(records[-SHOWN:]))
        self.setRowCount(len(rows))
        bad = QtGui.QBrush(QtGui.QColor("#ff5c5c"))
        for r, rec in enumerate(rows):
            for c, value in enumerate(flat_row(rec)):
                item = QtWidgets.QTableWidgetItem(_cell(value))
                if isinstance(value, int | float):
                    item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
                header = COLUMNS[c][0]
                if (header in ("underruns", "stale samples") and value) or (header == "outcome" and value == "failed"):
                    item.setForeground(bad)
                self.setItem(r, c, item)
        self.resizeColumnsToContents()
