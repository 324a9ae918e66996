"""What the window says besides its figures: the error banner above the editor, and in the status bar the speech
being saved to a file (its progress, and Cancel, which deletes the file; its arrow keeps what is saved so far). The
file is written by core.save on the engine's worker, beside whatever plays."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from ..core.save import SpeechFile


class Banner(QtWidgets.QWidget):
    """An error and what to do, above the editor, until it is closed or cleared (selectable, to copy it)."""

    def __init__(self) -> None:
        super().__init__()
        self.label = QtWidgets.QLabel()
        self.label.setObjectName("banner")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QtWidgets.QToolButton()
        close.setText("✕")
        close.clicked.connect(self.clear)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label, 1)
        row.addWidget(close)
        self.hide()

    def text(self) -> str:
        return self.label.text()

    def say(self, message: str) -> None:
        self.label.setText(message)
        self.show()

    def clear(self) -> None:
        self.hide()
        self.label.clear()


class SaveStatus(QtWidgets.QWidget):
    def __init__(self, say: Callable[[str, int], None], show_error: Callable[[str], None]) -> None:
        super().__init__()
        self._say, self._show_error = say, show_error
        self.saving: SpeechFile | None = None
        self.bar = QtWidgets.QProgressBar()
        self.bar.setFixedWidth(160)
        self.bar.setFormat("saving %p %")
        self.cancel_btn = QtWidgets.QToolButton()
        self.cancel_btn.setText("Cancel")
        self.cancel_btn.setToolTip("Stop saving and delete the file (the arrow: keep what is saved so far)")
        self.cancel_btn.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.cancel_btn.clicked.connect(lambda: self.cancel(keep=False))
        keep_menu = QtWidgets.QMenu(self.cancel_btn)
        keep_menu.addAction("Stop and keep what is saved so far", lambda: self.cancel(keep=True))
        self.cancel_btn.setMenu(keep_menu)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar)
        row.addWidget(self.cancel_btn)
        self.hide()

    @property
    def busy(self) -> bool:
        return self.saving is not None and not self.saving.done.is_set()

    def follow(self, saving: SpeechFile) -> None:
        """Show `saving`'s progress until it is done."""
        self.saving = saving
        self.bar.setValue(0)
        self.show()
        self._say(f"saving the speech to {Path(saving.path).name}…", 3000)

    def cancel(self, keep: bool = False) -> None:
        if self.saving is not None and self.busy:
            self.saving.cancel(keep)

    def update_progress(self) -> None:
        saving = self.saving
        if saving is None or not self.isVisible():
            return
        made, total = saving.progress()
        self.bar.setValue(int(100 * made / total) if total else 0)
        if not saving.done.is_set():
            return
        self.hide()
        name = Path(saving.path).name
        if saving.error:
            self._show_error(f"The speech was not saved: {saving.error}")
        elif saving.record is not None and saving.record.outcome == "done":
            self._say(f"saved {name} ({saving.seconds:.1f} s of audio)", 8000)
        elif saving.kept:
            self._say(f"stopped: {name} keeps the first {saving.seconds:.1f} s", 8000)
        else:
            self._say(f"saving cancelled: {name} was not written", 5000)

