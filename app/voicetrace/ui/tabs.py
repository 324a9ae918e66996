"""The window's lower tabs beside the requests table: the barge-in demo, and text spoken as it streams in (a chat
model's reply, or the editor's text fed as a model would write it)."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable, Iterator

from PySide6 import QtCore, QtWidgets

from ..desk.core import DeskCore
from ..desk.demo import DEMO_PARAGRAPH, BargeInDemo, DemoConfig
from ..desk.readout import demo_status_html, stream_status_html
from ..errors import UserError
from ..text.feed import token_pieces
from .editor import TextEditor

RUN = "Run barge-in demo"


def add_row(grid: QtWidgets.QGridLayout, row: int, *cells: str | QtWidgets.QWidget) -> None:
    """One grid row, left to right; a string becomes a label."""
    for col, cell in enumerate(cells):
        grid.addWidget(QtWidgets.QLabel(cell) if isinstance(cell, str) else cell, row, col)


def _seconds(value: float) -> QtWidgets.QDoubleSpinBox:
    box = QtWidgets.QDoubleSpinBox()
    box.setRange(0.0, 60.0)
    box.setValue(value)
    box.setSuffix(" s")
    return box


class DemoTab(QtWidgets.QWidget):
    """Speaks a paragraph and interrupts it at a random moment between two bounds, N times in a row (desk.demo
    runs it), then shows how fast it went silent and how fast the engine stopped."""

    def __init__(self, core: DeskCore, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.core = core
        self.demo: BargeInDemo | None = None
        self._shown = ""
        self.rounds = QtWidgets.QSpinBox()
        self.rounds.setRange(1, 1000)
        self.rounds.setValue(10)
        self.min_s, self.max_s = _seconds(1.0), _seconds(3.0)
        self.button = QtWidgets.QPushButton(RUN)
        self.status = QtWidgets.QLabel(
            "Speaks a paragraph and interrupts it at a random moment between the bounds, N times in a row, "
            "then shows how fast it went silent and how fast the engine stopped.")
        self.status.setWordWrap(True)
        self.status.setTextFormat(QtCore.Qt.TextFormat.RichText)
        g = QtWidgets.QGridLayout(self)
        add_row(g, 0, "Rounds", self.rounds, "Interrupt between", self.min_s, "and", self.max_s, "after Speak",
                self.button)
        g.setColumnStretch(8, 1)
        g.addWidget(self.status, 1, 0, 1, 9)
        g.setRowStretch(2, 1)

    @property
    def running(self) -> bool:
        return self.demo is not None and not self.demo.finished.is_set()

    def toggle(self, engine_id: str, voice: str | None, speed: float) -> str | None:
        """Start the demo on this engine and voice, or stop the one running. Returns why it cannot start."""
        if self.demo is not None and self.running:
            self.demo.stop()
            self.button.setText("Stopping…")
            return None
        try:
            cfg = DemoConfig(DEMO_PARAGRAPH, engine_id, voice, speed, self.rounds.value(), self.min_s.value(),
                             self.max_s.value())
            self.demo = BargeInDemo(self.core, cfg).start()
        except ValueError as exc:
            return f"Demo settings: {exc}"
        self.button.setText("Stop demo")
        return None

    def update_status(self) -> None:
        d = self.demo
        if d is None:
            return
        text = demo_status_html(d)
        if text != self._shown:
            self._shown = text
            self.status.setText(text)
        if d.finished.is_set() and self.button.text() != RUN:
            self.button.setText(RUN)

    def stop(self) -> None:
        if self.demo is not None:
            self.demo.stop()


# (pieces, offset in the editor, the text they make or None for a model's reply, on_piece, on_cancel) → request id
StartStream = Callable[[Iterable[str], int, str | None, Callable[[str], None] | None, Callable[[], None] | None],
                       str | None]


def simulated_pieces(text: str, tokens_per_s: int) -> Iterator[str]:
    """`text` a token at a time at the rate a language model writes (so a demo needs no model)."""
    period = 1.0 / tokens_per_s
    for piece in token_pieces(text):
        time.sleep(period)
        yield piece


class StreamTab(QtWidgets.QWidget):
    """Text that arrives while it is spoken: a chat model's reply (written into the editor as it comes), or the
    editor's text fed as a model would stream it. Interrupt stops both the speech and the model."""

    def __init__(self, core: DeskCore, editor: TextEditor, start: StartStream, show_error: Callable[[str], None],
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.core, self.editor, self._start, self._show_error = core, editor, start, show_error
        self.request_id: str | None = None  # the streamed request whose record is awaited
        self._incoming: queue.Queue[str] = queue.Queue()  # a model's text, from its thread to the editor
        g = QtWidgets.QGridLayout(self)
        self.sim_rate = QtWidgets.QSpinBox()
        self.sim_rate.setRange(1, 500)
        self.sim_rate.setValue(30)
        self.sim_rate.setSuffix(" tokens/s")
        self.sim_btn = QtWidgets.QPushButton("Speak the text as a model streams it")
        self.sim_btn.setToolTip("Feeds the editor's text (or the selection) a token at a time, as a language model "
                                "writes, and speaks it as it comes")
        self.sim_btn.clicked.connect(self.speak_simulated)
        self.chat_url = QtWidgets.QLineEdit()
        self.chat_url.setPlaceholderText("http://localhost:11434/v1   (Ollama, llama.cpp, vLLM: OpenAI-compatible)")
        self.chat_model = QtWidgets.QLineEdit()
        self.chat_model.setPlaceholderText("model, e.g. llama3.2")
        self.chat_token = QtWidgets.QLineEdit()
        self.chat_token.setEchoMode(QtWidgets.QLineEdit.EchoMode.Password)
        self.chat_token.setPlaceholderText("API key (if any)")
        self.chat_prompt = QtWidgets.QLineEdit()
        self.chat_prompt.setPlaceholderText("Ask the model something; its reply appears in the editor and is spoken "
                                            "as it is written")
        self.chat_prompt.returnPressed.connect(self.ask_chat)
        self.chat_btn = QtWidgets.QPushButton("Ask and speak the reply")
        self.chat_btn.clicked.connect(self.ask_chat)
        self.status = QtWidgets.QLabel("First text → audible, starvation and the words heard after an "
                                       "interrupt show here.")
        self.status.setWordWrap(True)
        self.status.setTextFormat(QtCore.Qt.TextFormat.RichText)
        add_row(g, 0, "Simulate a streaming model at", self.sim_rate, self.sim_btn)
        add_row(g, 1, "Reply from a chat model", self.chat_url, self.chat_model, self.chat_token)
        g.addWidget(self.chat_prompt, 2, 1, 1, 2)
        g.addWidget(self.chat_btn, 2, 3)
        g.addWidget(self.status, 3, 0, 1, 4)
        g.setColumnStretch(1, 1)
        g.setRowStretch(4, 1)

    @property
    def busy(self) -> bool:
        """A model's text waits for the editor, or a streamed request for its record."""
        return not self._incoming.empty() or self.request_id is not None

    def speak_simulated(self) -> None:
        """The editor's text (or the selection) fed at the chosen tokens per second, as a model would."""
        text, offset = self.editor.selection_or_all()
        if not text.strip():
            self._show_error("There is no text to stream: type or paste some words first.")
            return
        self.request_id = self._start(simulated_pieces(text, self.sim_rate.value()), offset, text, None, None) \
            or self.request_id

    def ask_chat(self) -> None:
        """Ask the chat model; its reply replaces the editor's text as it streams and is spoken as it comes."""
        from ..remote.chat import ChatStream

        try:
            chat = ChatStream(self.chat_url.text().strip(), self.chat_model.text().strip() or "default",
                              self.chat_prompt.text(), self.chat_token.text().strip() or None)
        except UserError as exc:
            self._show_error(str(exc))
            return
        self.editor.load_reply("", replace=True)
        rid = self._start(iter(chat), 0, None, self._incoming.put, chat.close)
        if rid is None:
            chat.close()
        else:
            self.request_id = rid

    def update_status(self) -> None:
        """The model's text that arrived since the last tick into the editor; the streamed request's figures
        once its record is in."""
        got = []
        while not self._incoming.empty():
            got.append(self._incoming.get_nowait())
        if got:
            self.editor.load_reply("".join(got))
        rid = self.request_id
        if rid is None:
            return
        rec = next((r for r in reversed(self.core.records) if r.request_id == rid), None)
        if rec is not None:
            self.request_id = None
            self.status.setText(stream_status_html(rec))
