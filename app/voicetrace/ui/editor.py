"""The text editor: opens dropped .txt/.md files instead of inserting their paths, offers "Speak from here" in
its context menu (at the sentence under the mouse) and counts its characters. It reads along: its `reader`
(desk.reader, no Qt) knows which of its text is being spoken, and it paints the words being heard."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from ..core.timeline import Timeline
from ..desk.reader import Reader, sentence_start, skip_target
from ..text.normalize import MAX_TEXT_CHARS

HEARD = QtGui.QColor(62, 207, 142, 90)


class TextEditor(QtWidgets.QPlainTextEdit):
    file_dropped = QtCore.Signal(str)
    speak_from = QtCore.Signal(int)
    edited = QtCore.Signal()  # the user changed the text (not a model's reply coming in)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.reader = Reader()
        self.counter = QtWidgets.QLabel()  # the window lays it out
        self.counter.setObjectName("counter")
        self._loading_reply = False  # the text changes as a model's reply comes in, not by the user
        self.textChanged.connect(self._on_changed)

    def _on_changed(self) -> None:
        n = len(self.toPlainText())
        over = n > MAX_TEXT_CHARS
        self.counter.setText(f"{n:,} / {MAX_TEXT_CHARS:,} characters" + ("  — too long to speak" if over else ""))
        self.counter.setProperty("over", over)
        self.counter.style().polish(self.counter)
        if not self._loading_reply:
            self.reader.edited_since_speak = True
            self.edited.emit()

    def load_reply(self, text: str, replace: bool = False) -> None:
        """A model's reply: replace the text with it, or append what came since (the user's cursor stays)."""
        self._loading_reply = True
        if replace:
            self.setPlainText(text)
        else:
            cur = self.textCursor()
            cur.movePosition(QtGui.QTextCursor.MoveOperation.End)
            cur.insertText(text)
        self._loading_reply = False

    def contextMenuEvent(self, event: QtGui.QContextMenuEvent) -> None:
        menu = self.createStandardContextMenu()
        at = self.cursorForPosition(event.pos()).position()
        action = QtGui.QAction("Speak from here (this sentence on)", menu)
        action.setShortcut(QtGui.QKeySequence("Ctrl+Shift+Return"))
        action.triggered.connect(lambda: self.speak_from.emit(at))
        if menu.actions():
            first = menu.actions()[0]
            menu.insertAction(first, action)
            menu.insertSeparator(first)
        else:
            menu.addAction(action)
        menu.exec(event.globalPos())

    def canInsertFromMimeData(self, source: QtCore.QMimeData) -> bool:
        return source.hasUrls() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QtCore.QMimeData) -> None:
        files = [u.toLocalFile() for u in source.urls() if u.isLocalFile()]
        if files:
            self.file_dropped.emit(files[0])
            return
        super().insertFromMimeData(source)

    def selection_or_all(self) -> tuple[str, int]:
        """(the selected text, where it starts), or the whole text from 0."""
        cursor = self.textCursor()
        if cursor.hasSelection():
            return cursor.selectedText().replace("\u2029", "\n"), cursor.selectionStart()
        return self.toPlainText(), 0

    def skip_range(self, step: int, busy: bool) -> tuple[str, int] | str:
        """Alt+→ / Alt+←: (the text from the start of the sentence `step` sentences on from the one being heard
        (or at the cursor) to the end of what was being read, where it starts), or why there is none."""
        text = self.toPlainText()
        pos, end = self.reader.position(len(text), self.textCursor().position(), busy)
        start = skip_target(text, pos, end, step)
        return start if isinstance(start, str) else (text[start:end], start)

    def range_from(self, position: int | None = None) -> tuple[str, int]:
        """Start here: (the text from the start of the sentence at `position` (or the cursor) on, where it starts)."""
        text = self.toPlainText()
        start = sentence_start(text, self.textCursor().position() if position is None else position)
        return text[start:], start

    def follow(self, request_id: str, tl: Timeline, listener_ms: float) -> None:
        """Highlight what the listener hears now of request `request_id`, if this text is what it speaks."""
        if self.reader.follow(request_id, tl, listener_ms, self.toPlainText):
            span = self.reader.highlight
            selections: list[QtWidgets.QTextEdit.ExtraSelection] = []
            if span is not None:
                sel = QtWidgets.QTextEdit.ExtraSelection()
                sel.format.setBackground(HEARD)
                cur = self.textCursor()
                cur.setPosition(span[0])
                cur.setPosition(span[1], QtGui.QTextCursor.MoveMode.KeepAnchor)
                sel.cursor = cur
                selections.append(sel)
            self.setExtraSelections(selections)

    @property
    def highlighted(self) -> str | None:
        """The text now highlighted as being heard (tests read it)."""
        span = self.reader.highlight
        return None if span is None else self.toPlainText()[span[0]:span[1]]
