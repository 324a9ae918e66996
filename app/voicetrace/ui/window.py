"""The main window. The Qt thread only reacts to the user and redraws: engines load and synthesise on
their worker threads, the device opens on a helper thread, and a 20 Hz timer reads the traces and the
player's ring/scope to update the graphs (it never asks an engine anything)."""

from __future__ import annotations

import os
import queue
import time
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from .. import __version__
from ..audio.devices import OutputDevice
from ..audio.player import Player
from ..contract import RequestMetrics
from ..core.report import markdown_report
from ..core.save import SpeechFile
from ..core.session import MAX_SPEED, MIN_SPEED
from ..core.timeline import Timeline, build
from ..core.trace import now_ns
from ..desk.core import REMOTE, DeskCore
from ..desk.demo import DEMO_PARAGRAPH, BargeInDemo, DemoConfig
from ..desk.files import export_records, read_text_file
from ..desk.readout import (
    AEC3_LEARNING,
    ENGINE_STEPS,
    MIC_STOPPED,
    VOICE_MODES,
    demo_status_html,
    engine_error,
    engine_line,
    progress_line,
    readout_html,
    stream_status_html,
)
from ..engines.catalog import ModelEntry, catalog
from ..errors import UserError
from ..text.feed import token_pieces
from ..text.normalize import MAX_TEXT_CHARS, clean_input
from ..text.planner import sentence_starts, word_spans
from . import settings as kept
from .graphs import LiveGraphs
from .presenter import PresenterView
from .table import MetricsTable
from .tasks import Background

# 20 Hz redraw while something speaks or a graph is changing. While Kokoro spoke, the window's own thread took
# 48 % of a core at 30 Hz (the axes regenerated every tick), 31 % once they change in steps, 24 % at 20 Hz; the
# engines share the two cores with it.
TICK_MS = 50
# Idle (nothing speaking, nothing pending for a second): only the watchdogs and the status bar, twice a second,
# and no redraw (the 30 Hz redraw alone kept 14-16 % of a core busy with nothing to show).
IDLE_TICK_MS = 500
IDLE_AFTER_S = 1.0
STANDBY_AFTER_S = 30.0  # idle this long: the output stream is closed too (reopened by the next request)


class TextEditor(QtWidgets.QPlainTextEdit):
    """Plain text editor that opens dropped .txt/.md files instead of inserting their paths, and offers
    "Speak from here" in its context menu (at the sentence under the mouse)."""
    file_dropped = QtCore.Signal(str)
    speak_from = QtCore.Signal(int)

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


def _add_row(grid: QtWidgets.QGridLayout, row: int, *cells: str | QtWidgets.QWidget) -> None:
    """One grid row, left to right; a string becomes a label."""
    for col, cell in enumerate(cells):
        grid.addWidget(QtWidgets.QLabel(cell) if isinstance(cell, str) else cell, row, col)


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, core: DeskCore, settings: QtCore.QSettings, engine: str | None = None,
                 greet: bool = False, remote_url: str | None = None, remote_token: str | None = None) -> None:
        super().__init__()
        self.core = core
        self.settings = settings
        self.greet_pending = greet
        self.entries: dict[str, ModelEntry] = {e.id: e for e in catalog()}
        self.demo: BargeInDemo | None = None
        self.last_demo_text = ""
        self._records_version = -1
        # (request id, offset in editor, text submitted; None: a model's reply, as long as the editor holds it)
        self._spoken: tuple[str, int, str | None] | None = None
        self._spans: list[tuple[int, int]] = []  # word index → span in the text submitted
        self._highlight: tuple[int, int] | None = None
        self._drawn: tuple[str, int] | None = None  # (request id, trace length) of the timeline drawn
        self._voices_for: str | None = None
        self._shown_engine_error: tuple[str, str] | None = None
        self._edited_since_speak = False
        self._loading_reply = False  # the editor is being filled with a model's reply (not the user's edit)
        self._incoming: queue.Queue[str] = queue.Queue()  # a model's text, from its thread to the editor
        self._stream_request: str | None = None
        self._device_opening = False
        self.tasks = Background(self)  # blocking device calls, off the Qt thread
        self._t_start = time.perf_counter()
        self.setWindowTitle("VoiceTrace")
        self.setAcceptDrops(True)
        self._build()
        if remote_url:
            self.remote_url.setText(remote_url)
            engine = REMOTE
        if remote_token:
            self.remote_token.setText(remote_token)
        self._restore(engine)
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        self._last_active = time.monotonic()
        self.standby_after_s = STANDBY_AFTER_S
        self.timer.start()
        self.refresh_devices()

    # ---- layout ------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.banner = QtWidgets.QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        banner_close = QtWidgets.QToolButton()
        banner_close.setText("✕")
        banner_close.clicked.connect(self.clear_error)
        self.banner_row = QtWidgets.QWidget()
        br = QtWidgets.QHBoxLayout(self.banner_row)
        br.setContentsMargins(0, 0, 0, 0)
        br.addWidget(self.banner, 1)
        br.addWidget(banner_close)
        self.banner_row.hide()

        self.editor = TextEditor()
        self.editor.setPlaceholderText("Type or paste text, or drop a .txt / .md file here")
        self.editor.textChanged.connect(self._on_text_changed)
        self.editor.file_dropped.connect(self.open_file)
        self.editor.speak_from.connect(self.speak_from_cursor)
        self.counter = QtWidgets.QLabel()
        self.counter.setObjectName("counter")

        self.engine_box = QtWidgets.QComboBox()
        for e in self.entries.values():
            self.engine_box.addItem(e.title, e.id)
        self.engine_box.addItem("Remote server (voicetrace serve, or OpenAI-compatible)", REMOTE)
        self.engine_box.currentIndexChanged.connect(self._on_engine_changed)
        self.remote_url = QtWidgets.QLineEdit()
        self.remote_url.setPlaceholderText("ws://gpu-box:8880  (voicetrace serve)   or   http://host:port/v1")
        self.remote_url.returnPressed.connect(self.connect_remote)
        self.remote_token = QtWidgets.QLineEdit()
        self.remote_token.setEchoMode(QtWidgets.QLineEdit.EchoMode.Password)
        self.remote_token.setPlaceholderText("token (if the server has one)")
        self.remote_token.setToolTip("The server's bearer token. Kept for this run only (or set VOICETRACE_TOKEN)")
        self.remote_token.setText(os.environ.get("VOICETRACE_TOKEN", ""))
        self.remote_token.returnPressed.connect(self.connect_remote)
        self.remote_btn = QtWidgets.QPushButton("Connect")
        self.remote_btn.clicked.connect(self.connect_remote)
        self.remote_row = QtWidgets.QWidget()
        rr = QtWidgets.QHBoxLayout(self.remote_row)
        rr.setContentsMargins(0, 0, 0, 0)
        rr.addWidget(QtWidgets.QLabel("Server"))
        rr.addWidget(self.remote_url, 3)
        rr.addWidget(self.remote_token, 1)
        rr.addWidget(self.remote_btn)
        self.remote_row.hide()
        self.voice_box = QtWidgets.QComboBox()
        self.voice_box.setEditable(True)
        self.voice_box.setMinimumContentsLength(16)
        self.voice_box.setToolTip("A voice id; Kokoro also takes blends like jm_kumo(2)+jf_alpha(1)")
        self.speed_box = QtWidgets.QDoubleSpinBox()
        self.speed_box.setRange(MIN_SPEED, MAX_SPEED)
        self.speed_box.setSingleStep(0.1)
        self.speed_box.setValue(1.0)
        self.speed_box.setSuffix("×")
        self.device_box = QtWidgets.QComboBox()
        self.device_box.setMinimumContentsLength(18)
        self.device_box.activated.connect(self._on_device_chosen)
        self.refresh_btn = QtWidgets.QToolButton()
        self.refresh_btn.setText("⟳")
        self.refresh_btn.setToolTip("Refresh the list of output devices")
        self.refresh_btn.clicked.connect(self.refresh_devices)
        self.volume = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setValue(100)
        self.volume.setMinimumWidth(90)
        self.volume.valueChanged.connect(self._on_volume)
        self.kokoro_stream = QtWidgets.QCheckBox("Kokoro in pieces")
        self.kokoro_stream.setChecked(True)
        self.kokoro_stream.setToolTip("Kokoro decodes each phrase in pieces, its first 200 ms of voice first "
                                      "(off: each phrase whole before it plays, as before — compare by ear)")
        self.kokoro_stream.toggled.connect(self.core.set_kokoro_stream)

        # Combo boxes size to a few words, not to their longest entry: the left column fits 1280×720 screens.
        shrink = QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        for box, chars in ((self.engine_box, 14), (self.voice_box, 10), (self.device_box, 14)):
            box.setSizeAdjustPolicy(shrink)
            box.setMinimumContentsLength(chars)
        form = QtWidgets.QGridLayout()
        _add_row(form, 0, "Engine", self.engine_box, "Voice", self.voice_box)
        form.addWidget(QtWidgets.QLabel("Output"), 1, 0)
        dev_row = QtWidgets.QHBoxLayout()
        dev_row.addWidget(self.device_box, 1)
        dev_row.addWidget(self.refresh_btn)
        form.addLayout(dev_row, 1, 1)
        form.addWidget(QtWidgets.QLabel("Speed"), 1, 2)
        form.addWidget(self.speed_box, 1, 3)
        form.addWidget(QtWidgets.QLabel("Volume"), 2, 0)
        form.addWidget(self.volume, 2, 1)
        form.addWidget(self.kokoro_stream, 2, 2, 1, 2)
        form.addWidget(self.remote_row, 3, 0, 1, 4)
        form.addWidget(self._build_voice_row(), 4, 0, 1, 4)
        form.setColumnStretch(1, 2)
        form.setColumnStretch(3, 1)

        self.speak_btn = QtWidgets.QPushButton("▶  Speak")
        self.speak_btn.setObjectName("speak")
        self.speak_btn.setToolTip("Speak the text (or the selection) — Ctrl+Enter")
        self.speak_btn.clicked.connect(self.speak)
        self.speak_btn.setEnabled(False)  # until the chosen engine is warm and a device is open
        self.pause_btn = QtWidgets.QPushButton("‖  Pause")
        self.pause_btn.setObjectName("pause")
        self.pause_btn.setToolTip("Pause / resume — Space (outside the editor), Ctrl+Space anywhere")
        self.pause_btn.clicked.connect(self.toggle_pause)
        self.pause_btn.setEnabled(False)
        self.pause_btn.setMinimumHeight(56)
        self.interrupt_btn = QtWidgets.QPushButton("■  Interrupt")
        self.interrupt_btn.setObjectName("interrupt")
        self.interrupt_btn.setToolTip("Barge in: silence it now — Esc")
        self.interrupt_btn.clicked.connect(self.interrupt)
        self.interrupt_btn.setMinimumHeight(56)
        self.speak_btn.setMinimumHeight(56)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.speak_btn, 1)
        buttons.addWidget(self.pause_btn, 1)
        buttons.addWidget(self.interrupt_btn, 2)

        self.progress = QtWidgets.QLabel(" ")
        self.progress.setObjectName("progress")
        self.readout = QtWidgets.QLabel("—")
        self.readout.setObjectName("readout")
        self.readout.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.readout.setWordWrap(True)

        left = QtWidgets.QWidget()
        lv = QtWidgets.QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.banner_row)
        lv.addWidget(self.editor, 1)
        lv.addWidget(self.counter)
        lv.addLayout(form)
        lv.addLayout(buttons)
        lv.addWidget(self.progress)
        lv.addWidget(self.readout)

        self.graphs = LiveGraphs()
        top = self.top_split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        top.addWidget(left)
        top.addWidget(self.graphs)
        top.setStretchFactor(0, 2)
        top.setStretchFactor(1, 3)

        self.table = MetricsTable()
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self.table, "Requests")
        self.tabs.addTab(self._build_demo(), "Barge-in demo")
        self.tabs.addTab(self._build_stream_tab(), "Streamed text")
        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.presenter = PresenterView()
        self.pages = QtWidgets.QStackedWidget()
        self.pages.addWidget(self.splitter)
        self.pages.addWidget(self.presenter)
        self.setCentralWidget(self.pages)

        self.engine_state = QtWidgets.QLabel()
        self.engine_bar = QtWidgets.QProgressBar()
        self.engine_bar.setRange(0, 3)
        self.engine_bar.setFixedWidth(120)
        self.engine_bar.setTextVisible(False)
        self.device_state = QtWidgets.QLabel()
        self.save_bar = QtWidgets.QProgressBar()
        self.save_bar.setFixedWidth(160)
        self.save_bar.setFormat("saving %p %")
        self.save_cancel = QtWidgets.QToolButton()
        self.save_cancel.setText("Cancel")
        self.save_cancel.setToolTip("Stop saving and delete the file (the arrow: keep what is saved so far)")
        self.save_cancel.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.save_cancel.clicked.connect(lambda: self.cancel_save(keep=False))
        keep_menu = QtWidgets.QMenu(self.save_cancel)
        keep_menu.addAction("Stop and keep what is saved so far", lambda: self.cancel_save(keep=True))
        self.save_cancel.setMenu(keep_menu)
        self.saving: SpeechFile | None = None
        self.statusBar().addPermanentWidget(self.save_bar)
        self.statusBar().addPermanentWidget(self.save_cancel)
        self.save_bar.hide()
        self.save_cancel.hide()
        self.statusBar().addPermanentWidget(self.device_state)
        self.statusBar().addPermanentWidget(self.engine_state)
        self.statusBar().addPermanentWidget(self.engine_bar)

        self._build_menus()
        QtGui.QShortcut(QtGui.QKeySequence("Ctrl+Return"), self, self.speak)
        QtGui.QShortcut(QtGui.QKeySequence("Ctrl+Enter"), self, self.speak)
        QtGui.QShortcut(QtGui.QKeySequence("Escape"), self, self.interrupt,
                        QtCore.Qt.ShortcutContext.ApplicationShortcut)
        # Space pauses wherever text is not being typed (a text field takes its own Space first); Ctrl+Space
        # everywhere, the editor included.
        QtGui.QShortcut(QtGui.QKeySequence("Space"), self, self.toggle_pause)
        QtGui.QShortcut(QtGui.QKeySequence("Alt+Right"), self, lambda: self.skip_sentence(1),
                        QtCore.Qt.ShortcutContext.ApplicationShortcut)
        QtGui.QShortcut(QtGui.QKeySequence("Alt+Left"), self, lambda: self.skip_sentence(-1),
                        QtCore.Qt.ShortcutContext.ApplicationShortcut)
        for keys in ("Ctrl+Shift+Return", "Ctrl+Shift+Enter"):
            QtGui.QShortcut(QtGui.QKeySequence(keys), self, self.speak_from_cursor)
        QtGui.QShortcut(QtGui.QKeySequence("Ctrl+Space"), self, self.toggle_pause,
                        QtCore.Qt.ShortcutContext.ApplicationShortcut)

    def _build_voice_row(self) -> QtWidgets.QWidget:
        self.voice_toggle = QtWidgets.QCheckBox("Barge-in by voice")
        self.voice_toggle.setToolTip("Listen to the microphone while speaking: when you talk (at least "
                                     "200 ms), it stops, as Interrupt does")
        self.voice_toggle.toggled.connect(self._on_voice_toggled)
        self.input_box = QtWidgets.QComboBox()
        self.input_box.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.input_box.setMinimumContentsLength(12)
        self.input_box.setToolTip("The microphone")
        self.input_box.activated.connect(lambda _i: self._restart_voice())
        self.headphones = QtWidgets.QCheckBox("Headphones")
        self.headphones.setToolTip("The microphone cannot hear the app: no echo canceller. Leave off with "
                                   "speakers: WebRTC AEC3 then removes the app's own voice from the microphone")
        self.headphones.toggled.connect(lambda _on: self._restart_voice())
        self.voice_state = QtWidgets.QLabel("off")
        self.voice_state.setObjectName("voiceState")
        row = QtWidgets.QWidget()
        h = QtWidgets.QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.voice_toggle)
        h.addWidget(QtWidgets.QLabel("Microphone"))
        h.addWidget(self.input_box, 1)
        h.addWidget(self.headphones)
        h.addWidget(self.voice_state, 1)
        return row

    def _on_voice_toggled(self, on: bool) -> None:
        if on:
            self.voice_state.setText("finding microphones…")
            self.tasks.run("list-inputs", self.core.list_input_devices, self._on_inputs_listed)
        else:
            self.tasks.run("stop-voice", self.core.stop_voice_barge_in)
            self.voice_state.setText("off")

    def _on_inputs_listed(self, devices: list[OutputDevice] | None, error: str) -> None:
        devices = devices or []
        self.input_box.clear()
        for d in devices:
            self.input_box.addItem(f"{d.name}  ({d.hostapi})", d.index)
        if not devices:
            self.voice_toggle.setChecked(False)
            self.show_error((f"{error}\n" if error else "") + "No microphone was found, so barge-in by voice is "
                            "off.\nConnect one (or start a sound server), then tick it again.")
            return
        want = str(self.settings.value("input_device", ""))
        pick = self.input_box.findText(want) if want else -1
        self.input_box.setCurrentIndex(pick if pick >= 0 else next((i for i, d in enumerate(devices)
                                                                    if d.is_default), 0))
        self._restart_voice()

    def _restart_voice(self) -> None:
        if not self.voice_toggle.isChecked() or self.input_box.count() == 0:
            return
        index, headphones = self.input_box.currentData(), self.headphones.isChecked()
        self.voice_state.setText("opening the microphone…")
        self.tasks.run("start-voice", lambda: self.core.start_voice_barge_in(index, headphones), self._on_voice_started)

    def _on_voice_started(self, _name: str | None, error: str) -> None:
        if error:
            self.voice_toggle.setChecked(False)
            self.show_error(f"Barge-in by voice is off: {error}")
            return
        v = self.core.voice_state()
        self.voice_state.setText(f"listening ({VOICE_MODES[v.canceller if v is not None else 'off']})")
        self.voice_state.setToolTip(v.canceller_note if v is not None else "")

    def _build_demo(self) -> QtWidgets.QWidget:
        w = QtWidgets.QWidget()
        g = QtWidgets.QGridLayout(w)
        self.demo_rounds = QtWidgets.QSpinBox()
        self.demo_rounds.setRange(1, 1000)
        self.demo_rounds.setValue(10)
        self.demo_min = QtWidgets.QDoubleSpinBox()
        self.demo_min.setRange(0.0, 60.0)
        self.demo_min.setValue(1.0)
        self.demo_min.setSuffix(" s")
        self.demo_max = QtWidgets.QDoubleSpinBox()
        self.demo_max.setRange(0.0, 60.0)
        self.demo_max.setValue(3.0)
        self.demo_max.setSuffix(" s")
        self.demo_btn = QtWidgets.QPushButton("Run barge-in demo")
        self.demo_btn.clicked.connect(self.toggle_demo)
        self.demo_status = QtWidgets.QLabel(
            "Speaks a paragraph and interrupts it at a random moment between the bounds, N times in a row, "
            "then shows how fast it went silent and how fast the engine stopped.")
        self.demo_status.setWordWrap(True)
        self.demo_status.setTextFormat(QtCore.Qt.TextFormat.RichText)
        _add_row(g, 0, "Rounds", self.demo_rounds, "Interrupt between", self.demo_min, "and", self.demo_max,
                 "after Speak", self.demo_btn)
        g.setColumnStretch(8, 1)
        g.addWidget(self.demo_status, 1, 0, 1, 9)
        g.setRowStretch(2, 1)
        return w

    def _build_stream_tab(self) -> QtWidgets.QWidget:
        """Text that arrives while it is spoken: a chat model's reply, or the editor's text fed as a model would
        stream it (a demo needs no model). Interrupt stops both the speech and the model."""
        w = QtWidgets.QWidget()
        g = QtWidgets.QGridLayout(w)
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
        self.stream_status = QtWidgets.QLabel("First text → audible, starvation and the words heard after an "
                                              "interrupt show here.")
        self.stream_status.setWordWrap(True)
        self.stream_status.setTextFormat(QtCore.Qt.TextFormat.RichText)
        _add_row(g, 0, "Simulate a streaming model at", self.sim_rate, self.sim_btn)
        _add_row(g, 1, "Reply from a chat model", self.chat_url, self.chat_model, self.chat_token)
        g.addWidget(self.chat_prompt, 2, 1, 1, 2)
        g.addWidget(self.chat_btn, 2, 3)
        g.addWidget(self.stream_status, 3, 0, 1, 4)
        g.setColumnStretch(1, 1)
        g.setRowStretch(4, 1)
        return w

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction("&Open text…", QtGui.QKeySequence.StandardKey.Open, self._open_dialog)
        file_menu.addAction("&Save speech as…", QtGui.QKeySequence.StandardKey.Save, self._save_dialog)
        file_menu.addSeparator()
        file_menu.addAction("Export metrics as &CSV…", lambda: self._export_dialog("csv"))
        file_menu.addAction("Export metrics as &JSON…", lambda: self._export_dialog("json"))
        file_menu.addSeparator()
        file_menu.addAction("&Quit", QtGui.QKeySequence.StandardKey.Quit, self.close)
        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.addAction("Copy &report (markdown)", self.copy_report)
        edit_menu.addAction("Speak &clipboard", QtGui.QKeySequence("Ctrl+Shift+V"), self.speak_clipboard)
        view_menu = self.menuBar().addMenu("&View")
        self.presenter_action = view_menu.addAction("&Presenter view", QtGui.QKeySequence("F11"),
                                                    self.toggle_presenter)
        self.presenter_action.setCheckable(True)
        self.presenter_action.setShortcutContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("&About VoiceTrace", self._about)

    # ---- settings ----------------------------------------------------------------------------------
    def _restore(self, engine: str | None) -> None:
        self.geometry_restored = kept.restore_layout(self, self.settings, self.layout_key(), self.top_split,
                                                     self.splitter)
        kept.restore(self, self.settings)
        chosen = engine or str(self.settings.value("engine", "kokoro"))
        i = self.engine_box.findData(chosen)
        self.engine_box.setCurrentIndex(max(0, i))
        self._on_engine_changed()

    def layout_key(self) -> str:
        """Where the window's layout is kept: one per size of the screen it is on."""
        avail = self.screen().availableGeometry()
        return f"layout/{avail.width()}x{avail.height()}"

    def save_settings(self) -> None:
        kept.save_layout(self, self.settings, self.layout_key(), self.top_split, self.splitter)
        kept.save(self, self.settings)
        self.settings.setValue("engine", self.engine_id)
        self.settings.setValue(f"voice/{self.engine_id}", self.voice_box.currentText())
        self.settings.sync()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.timer.stop()
        self.cancel_save()
        if self.demo is not None:
            self.demo.stop()
        self.save_settings()
        self.core.close()
        super().closeEvent(event)

    # ---- messages ----------------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.banner.setText(message)
        self.banner_row.show()
        self.statusBar().showMessage(message.splitlines()[0], 10_000)

    def clear_error(self) -> None:
        self.banner_row.hide()
        self.banner.clear()

    # ---- text --------------------------------------------------------------------------------------
    def _on_text_changed(self) -> None:
        n = len(self.editor.toPlainText())
        over = n > MAX_TEXT_CHARS
        self.counter.setText(f"{n:,} / {MAX_TEXT_CHARS:,} characters" + ("  — too long to speak" if over else ""))
        self.counter.setProperty("over", over)
        self.counter.style().polish(self.counter)
        if not self._loading_reply:
            self._edited_since_speak = True
            self.core.wake_output()  # typing: Speak comes next, so the stream reopens now

    def open_file(self, path: str) -> None:
        try:
            text = read_text_file(path)
        except UserError as exc:
            self.show_error(str(exc))
            return
        self.editor.setPlainText(text)
        self.statusBar().showMessage(f"opened {Path(path).name} ({len(text):,} characters)", 5000)

    # ---- save the speech -------------------------------------------------------------------------------
    def _save_dialog(self) -> None:
        filters = "WAV (*.wav);;FLAC (*.flac);;OGG Vorbis (*.ogg);;Opus (*.opus);;MP3 (*.mp3)"
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(self, "Save speech as", "speech.wav", filters)
        if path:
            if not Path(path).suffix and chosen:  # a name typed without its extension: the filter's
                path += "." + chosen.split("*.")[1].rstrip(")")
            self.save_speech(path)

    def save_speech(self, path: str) -> None:
        """The selection (or the whole text) synthesised into `path` in the background, on the chosen engine
        and voice, with a progress bar and Cancel in the status bar; the window stays usable meanwhile."""
        if self.saving is not None and not self.saving.done.is_set():
            self.statusBar().showMessage("a file is being saved already: wait, or cancel it", 4000)
            return
        cursor = self.editor.textCursor()
        text = cursor.selectedText().replace("\u2029", "\n") if cursor.hasSelection() else self.editor.toPlainText()
        try:
            self.saving = self.core.save_speech(text, self.engine_id, self.voice_box.currentText().strip() or None,
                                                self.speed_box.value(), path)
        except UserError as exc:
            self.show_error(f"Cannot save the speech: {exc}")
            return
        self.save_bar.setValue(0)
        self.save_bar.show()
        self.save_cancel.show()
        self.statusBar().showMessage(f"saving the speech to {Path(path).name}…", 3000)

    def cancel_save(self, keep: bool = False) -> None:
        if self.saving is not None and not self.saving.done.is_set():
            self.saving.cancel(keep)

    def _update_save(self) -> None:
        saving = self.saving
        if saving is None or not self.save_bar.isVisible():
            return
        made, total = saving.progress()
        self.save_bar.setValue(int(100 * made / total) if total else 0)
        if not saving.done.is_set():
            return
        self.save_bar.hide()
        self.save_cancel.hide()
        name = Path(saving.path).name
        if saving.error:
            self.show_error(f"The speech was not saved: {saving.error}")
        elif saving.record is not None and saving.record.outcome == "done":
            self.statusBar().showMessage(f"saved {name} ({saving.seconds:.1f} s of audio)", 8000)
        elif saving.kept:
            self.statusBar().showMessage(f"stopped: {name} keeps the first {saving.seconds:.1f} s", 8000)
        else:
            self.statusBar().showMessage(f"saving cancelled: {name} was not written", 5000)

    def _open_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open text", "", "Text (*.txt *.md);;All files (*)")
        if path:
            self.open_file(path)

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            self.open_file(files[0])

    # ---- engines -----------------------------------------------------------------------------------
    @property
    def engine_id(self) -> str:
        return str(self.engine_box.currentData())

    def _on_engine_changed(self) -> None:
        engine = self.engine_id
        self.remote_row.setVisible(engine == REMOTE)
        self.kokoro_stream.setEnabled(engine == "kokoro")
        if engine == REMOTE:
            if REMOTE not in self.core.engines and self.remote_url.text().strip():
                self.connect_remote()
        else:
            try:
                self.core.start_engine(engine)
            except UserError as exc:
                self.show_error(str(exc))
        self._voices_for = None  # fill the voice list once this engine is ready
        self.voice_box.clear()
        saved = self.settings.value(f"voice/{engine}")
        self.voice_box.setEditText(str(saved) if saved else "")

    def connect_remote(self) -> None:
        """Connect the Remote engine to the URL typed (connecting runs on the engine's worker)."""
        url = self.remote_url.text().strip()
        if not url:
            self.show_error("Enter the remote server's URL: ws://HOST:8880 for `voicetrace serve`, or "
                            "http://HOST:PORT/v1 for an OpenAI-compatible server.")
            return
        try:
            self.core.connect_remote(url, self.remote_token.text().strip() or None)
        except UserError as exc:
            self.show_error(str(exc))
            return
        self.clear_error()
        self._shown_engine_error = None
        self._voices_for = None
        self.settings.setValue("remote/url", url)

    def _fill_voices(self) -> None:
        engine = self.engine_id
        voices = self.core.voices(engine)
        if not voices or self._voices_for == engine:
            return
        self._voices_for = engine
        current = self.voice_box.currentText() or self.core.default_voice(engine) or ""
        self.voice_box.clear()
        self.voice_box.addItems(voices)
        self.voice_box.setEditText(current)

    def _update_engine_state(self) -> None:
        st = self.core.engine_status(self.engine_id)
        remote = self.engine_id == REMOTE
        title = (self.entries[self.engine_id].title if self.engine_id in self.entries
                 else f"Remote {self.remote_url.text().strip()}" if remote else self.engine_id)
        self.engine_state.setText(engine_line(title, st.state, remote, self.core.is_busy(), self.core.paused))
        self.engine_state.setProperty("state", st.state)
        self.engine_bar.setValue(ENGINE_STEPS.get(st.state, 0))
        self.engine_bar.setVisible(st.state not in ("ready", "error"))
        if st.state == "error" and st.error and self._shown_engine_error != (self.engine_id, st.error):
            self._shown_engine_error = (self.engine_id, st.error)
            self.show_error(engine_error(title, st.error, remote))
        ready = st.state == "ready"
        can = ready and self.core.session is not None and (self.demo is None or self.demo.finished.is_set())
        self.speak_btn.setEnabled(can)
        busy = self.core.is_busy()
        self.interrupt_btn.setEnabled(busy)
        self.pause_btn.setEnabled(busy)
        if not busy and self.pause_btn.text() != "‖  Pause":
            self._show_paused(False)
        self.demo_btn.setEnabled(can or (self.demo is not None and not self.demo.finished.is_set()))
        if ready:
            self._fill_voices()
            if self.greet_pending and self.core.session is not None:
                self.greet_pending = False
                self.speak()
            if not self.greet_pending:  # the chosen engine is warm: load the others, one at a time
                self.core.preload_next(self.entries)

    # ---- device ------------------------------------------------------------------------------------
    def refresh_devices(self) -> None:
        """List the output devices (on a helper thread: PortAudio may take a while), then open one."""
        if self._device_opening:
            return
        self._device_opening = True
        self.device_state.setText("looking for output devices…")
        self.tasks.run("list-devices", self.core.list_devices, self._on_devices_listed)

    def _on_devices_listed(self, devices: list[OutputDevice] | None, error: str) -> None:
        self._device_opening = False
        devices = devices or []
        self.device_box.clear()
        for d in devices:
            self.device_box.addItem(f"{d.name}  ({d.hostapi})", d.index)
        if not devices:
            self.device_box.addItem("(no output device)", None)
            self.device_state.setText("no output device")
            self.show_error((f"{error}\n" if error else "") + "No audio output device was found.\nConnect headphones "
                            "or speakers, or start a sound server (PipeWire, PulseAudio or JACK), then press ⟳.")
            return
        want = str(self.settings.value("device", ""))
        current = self.core.player.device.index if self.core.player is not None else None
        pick = next((i for i in range(self.device_box.count()) if self.device_box.itemData(i) == current), -1)
        if pick < 0 and want:
            pick = self.device_box.findText(want)
        if pick < 0:
            pick = next((i for i, d in enumerate(devices) if d.is_default), 0)
        self.device_box.setCurrentIndex(pick)
        if self.core.player is None or self.core.player.device.index != self.device_box.itemData(pick):
            self._open_device(self.device_box.itemData(pick))
        else:
            self._show_device(self.core.player)

    def _on_device_chosen(self, _i: int) -> None:
        idx = self.device_box.currentData()
        if idx is not None and (self.core.player is None or self.core.player.device.index != idx):
            self._open_device(idx)

    def _open_device(self, index: int) -> None:
        if self._device_opening:
            return
        self._device_opening = True
        self.device_state.setText("opening the output device…")
        volume = self.volume.value() / 100

        def work() -> Player:
            player = self.core.open_device(index)
            player.volume = volume
            return player

        self.tasks.run("open-device", work, self._on_device_opened)

    def _on_device_opened(self, player: Player | None, error: str) -> None:
        self._device_opening = False
        if player is None:
            self.device_state.setText("no output device")
            self.show_error(f"Cannot use that output device: {error}\nPick another device, or press ⟳.")
            return
        self._show_device(player)
        self.clear_error()

    def _show_device(self, player: Player) -> None:
        self.device_state.setText(f"{player.device.name} · {player.rate} Hz · "
                                  f"{player.output_latency_s * 1000:.1f} ms latency")

    def _on_volume(self, value: int) -> None:
        if self.core.player is not None:
            self.core.player.volume = value / 100

    # ---- speak / interrupt -------------------------------------------------------------------------
    def speak(self) -> None:
        """Speak the selection, or the whole text."""
        t_click = now_ns()  # TTFA counts from the click
        cursor = self.editor.textCursor()
        if cursor.hasSelection():
            text, offset = cursor.selectedText().replace("\u2029", "\n"), cursor.selectionStart()
        else:
            text, offset = self.editor.toPlainText(), 0
        self._speak_range(text, offset, t_click)

    def _can_speak(self) -> bool:
        """Speak is possible now; if not, say why."""
        self.wake()
        if self.speak_btn.isEnabled():
            return True
        st = self.core.engine_status(self.engine_id)
        if self.core.session is None:
            self.show_error(self.core.device_error or "No output device is open: pick one, or press ⟳.")
        elif st.state != "ready":
            self.statusBar().showMessage(f"{self.engine_id} is {st.state}; Speak works once it is warm", 4000)
        return False

    def _speak_range(self, text: str, offset: int, t_click: int) -> None:
        """Speak `text`, found at `offset` in the editor (the highlight follows it there)."""
        if not self._can_speak():
            return
        try:
            req = self.core.speak(text, self.engine_id, self.voice_box.currentText().strip() or None,
                                  self.speed_box.value(), t_submit_ns=t_click)
        except UserError as exc:
            self.show_error(str(exc))
            return
        self.clear_error()
        self._show_paused(False)
        self._spoken = (req.id, offset, clean_input(text))
        self._spans = word_spans(self._spoken[2]) if len(self._spoken[2]) == len(text) else []
        self._edited_since_speak = False
        self.interrupt_btn.setEnabled(True)
        self.pause_btn.setEnabled(True)
        self.pause_btn.setFocus()  # out of the editor: Space now pauses

    # ---- reading: skip, start here -------------------------------------------------------------------
    def _reading_at(self) -> tuple[int, int]:
        """(where the listener is in the editor, where the text being read ends): the word being heard while
        the editor still holds what is spoken, else the cursor and the end of the text."""
        end = len(self.editor.toPlainText())
        spoken = self._spoken
        live = self.core.is_busy() and spoken is not None and not self._edited_since_speak
        if live and spoken is not None and spoken[2] is not None:
            end = min(end, spoken[1] + len(spoken[2]))
        if live and self._highlight is not None:
            return self._highlight[0], end
        if live and spoken is not None:
            return spoken[1], end
        return self.editor.textCursor().position(), end

    def skip_sentence(self, step: int) -> None:
        """Alt+→ / Alt+←: cancel what plays (the normal cancel path) and speak from the next / previous
        sentence's start to the end of what was being read."""
        t_click = now_ns()
        text = self.editor.toPlainText()
        pos, end = self._reading_at()
        starts = [a for a in sentence_starts(text) if a < end]
        if not starts:
            self.statusBar().showMessage("there is no text to read", 2000)
            return
        here = max((k for k, a in enumerate(starts) if a <= pos), default=0)
        k = here + step
        if k >= len(starts):
            self.statusBar().showMessage("that was the last sentence", 2000)
            return
        start = starts[max(0, k)]
        self._speak_range(text[start:end], start, t_click)

    def speak_from_cursor(self, position: int | None = None) -> None:
        """Start here (Ctrl+Shift+Enter, or the editor's context menu): speak from the start of the sentence
        under the cursor (or `position`) to the end of the text."""
        t_click = now_ns()
        text = self.editor.toPlainText()
        pos = self.editor.textCursor().position() if position is None else position
        start = max((a for a in sentence_starts(text) if a <= pos), default=0)
        self._speak_range(text[start:], start, t_click)

    def _start_stream(self, pieces: Any, offset: int, text: str | None, on_cancel: Any = None) -> bool:
        """`text`: what will be fed (known: the highlight uses its words); None: a model's reply, appended to
        the editor as it comes."""
        if not self._can_speak():
            return False
        try:
            req = self.core.speak_stream(pieces, self.engine_id, self.voice_box.currentText().strip() or None,
                                         self.speed_box.value(), on_piece=self._incoming.put if text is None else None,
                                         on_cancel=on_cancel)
        except UserError as exc:
            self.show_error(str(exc))
            return False
        self.clear_error()
        self._spoken = (req.id, offset, text)
        self._spans = word_spans(text) if text is not None else []
        self._edited_since_speak = False
        self._stream_request = req.id
        self.interrupt_btn.setEnabled(True)
        self.pause_btn.setEnabled(True)
        self.pause_btn.setFocus()
        return True

    def speak_simulated(self) -> None:
        """The editor's text (or the selection) fed at the chosen tokens per second, as a model would."""
        cursor = self.editor.textCursor()
        if cursor.hasSelection():
            text, offset = cursor.selectedText().replace("\u2029", "\n"), cursor.selectionStart()
        else:
            text, offset = self.editor.toPlainText(), 0
        if not text.strip():
            self.show_error("There is no text to stream: type or paste some words first.")
            return
        period = 1.0 / self.sim_rate.value()

        def pieces() -> Any:
            for piece in token_pieces(text):
                time.sleep(period)
                yield piece

        self._start_stream(pieces(), offset, text)

    def ask_chat(self) -> None:
        """Ask the chat model; its reply replaces the editor's text as it streams and is spoken as it comes."""
        from ..remote.chat import ChatStream

        try:
            chat = ChatStream(self.chat_url.text().strip(), self.chat_model.text().strip() or "default",
                              self.chat_prompt.text(), self.chat_token.text().strip() or None)
        except UserError as exc:
            self.show_error(str(exc))
            return
        self._loading_reply = True
        self.editor.clear()
        self._loading_reply = False
        if not self._start_stream(iter(chat), 0, None, on_cancel=chat.close):
            chat.close()

    def _append_reply(self) -> None:
        """The chat model's text that arrived since the last tick, into the editor (on the Qt thread)."""
        got = []
        while not self._incoming.empty():
            got.append(self._incoming.get_nowait())
        if not got:
            return
        self._loading_reply = True
        cur = self.editor.textCursor()
        cur.movePosition(QtGui.QTextCursor.MoveOperation.End)
        cur.insertText("".join(got))
        self._loading_reply = False

    def _update_stream_status(self) -> None:
        rid = self._stream_request
        if rid is None:
            return
        rec = next((r for r in reversed(self.core.records) if r.request_id == rid), None)
        if rec is None:
            return
        self._stream_request = None
        self.stream_status.setText(stream_status_html(rec))

    def speak_clipboard(self) -> None:
        """Replace the text with the clipboard's and speak it (Edit ▸ Speak clipboard, Ctrl+Shift+V)."""
        text = QtWidgets.QApplication.clipboard().text()
        if not text.strip():
            self.show_error("The clipboard holds no text: copy some first.")
            return
        self.editor.setPlainText(text)
        self.speak()

    def interrupt(self) -> None:
        self.wake()
        cancelled = self.core.interrupt()
        self._show_paused(False)
        if not cancelled:
            self.statusBar().showMessage("nothing is playing", 2000)

    def toggle_pause(self) -> None:
        """Pause / resume what plays (the callback plays silence and keeps the ring; synthesis waits)."""
        self.wake()
        paused = self.core.toggle_pause()
        if paused is None:
            self.statusBar().showMessage("nothing is playing", 2000)
            return
        self._show_paused(paused)

    def _show_paused(self, paused: bool) -> None:
        self.pause_btn.setText("▶  Resume" if paused else "‖  Pause")

    # ---- barge-in demo -----------------------------------------------------------------------------
    def toggle_demo(self) -> None:
        self.wake()
        if self.demo is not None and not self.demo.finished.is_set():
            self.demo.stop()
            self.demo_btn.setText("Stopping…")
            return
        try:
            cfg = DemoConfig(DEMO_PARAGRAPH, self.engine_id, self.voice_box.currentText().strip() or None,
                             self.speed_box.value(), self.demo_rounds.value(), self.demo_min.value(),
                             self.demo_max.value())
            self.demo = BargeInDemo(self.core, cfg).start()
        except ValueError as exc:
            self.show_error(f"Demo settings: {exc}")
            return
        self.demo_btn.setText("Stop demo")

    def _update_demo(self) -> None:
        d = self.demo
        if d is None:
            return
        text = demo_status_html(d)
        if text != self.last_demo_text:
            self.last_demo_text = text
            self.demo_status.setText(text)
        if d.finished.is_set() and self.demo_btn.text() != "Run barge-in demo":
            self.demo_btn.setText("Run barge-in demo")

    # ---- presenter view ------------------------------------------------------------------------------
    @property
    def presenting(self) -> bool:
        return self.pages.currentWidget() is self.presenter

    def toggle_presenter(self) -> None:
        """F11: the presenter view, full screen (the numbers and graphs a room can read), and back."""
        on = not self.presenting
        self.presenter_action.setChecked(on)
        if on:
            self._was_maximized = self.isMaximized()
            self.presenter.show_records(list(self.core.records))
            self.pages.setCurrentWidget(self.presenter)
            self.showFullScreen()
        else:
            self.pages.setCurrentWidget(self.splitter)
            self.showMaximized() if getattr(self, "_was_maximized", False) else self.showNormal()

    # ---- reports -----------------------------------------------------------------------------------
    def export_metrics(self, path: str, kind: str) -> None:
        records = list(self.core.records)
        try:
            export_records(path, records, kind)
        except OSError as exc:
            self.show_error(f"Cannot write {path} ({exc.strerror}).\nChoose another folder.")
            return
        self.statusBar().showMessage(f"wrote {len(records)} requests to {path}", 5000)

    def _export_dialog(self, kind: str) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export metrics", f"voicetrace-metrics.{kind}",
                                                        f"{kind.upper()} (*.{kind})")
        if path:
            self.export_metrics(path, kind)

    def copy_report(self) -> str:
        device = self.core.player.device.name if self.core.player is not None else None
        text = markdown_report(list(self.core.records), device)
        QtGui.QGuiApplication.clipboard().setText(text)
        self.statusBar().showMessage("report copied to the clipboard", 3000)
        return text

    def _about(self) -> None:
        QtWidgets.QMessageBox.about(
            self, "About VoiceTrace",
            f"<b>VoiceTrace {__version__}</b><p>Streaming local text-to-speech that measures its own latency: "
            "time to first audio, chunk cadence, underruns and barge-in.</p><p>GPL-3.0-or-later. Kokoro-82M "
            "weights Apache-2.0, Piper joe voice CC0, espeak-ng GPL-3.0.</p>")

    # ---- the tick (20 Hz) ---------------------------------------------------------------------------
    @property
    def idle(self) -> bool:
        """Nothing speaking or pending for IDLE_AFTER_S: the window only watches (tests read it)."""
        return self.timer.interval() == IDLE_TICK_MS

    def wake(self) -> None:
        """Something starts (a request, the demo, a device): redraw at full rate again."""
        self._last_active = time.monotonic()
        if self.timer.interval() != TICK_MS:
            self.timer.setInterval(TICK_MS)

    def _busy(self) -> bool:
        if self.core.paused and not self.core.has_pending():  # held: nothing moves, so nothing to redraw
            return False
        return (self.core.is_busy() or self.core.has_pending() or not self._incoming.empty()
                or (self.demo is not None and not self.demo.finished.is_set()) or self._stream_request is not None)

    def tick(self) -> None:
        now = time.monotonic()
        if self._busy():
            self._last_active = now
        idle = now - self._last_active > IDLE_AFTER_S
        interval = IDLE_TICK_MS if idle else TICK_MS
        if self.timer.interval() != interval:
            self.timer.setInterval(interval)
        err = self.core.check_device()
        if err is not None and self.device_state.text() != "device lost":
            self.device_state.setText("device lost")
            self.show_error(f"{err[:1].upper()}{err[1:]}.\nPlug it back in or pick another output, then press ⟳.")
        self.core.poll_finished()
        for message in self.core.take_messages():  # a log that cannot be written, a text stream that broke
            self.show_error(message)
        if self.core.records_version != self._records_version:
            self._records_version = self.core.records_version
            records = list(self.core.records)
            self.graphs.set_history(records)
            if self.presenting:
                self.presenter.show_records(records)
            self.table.set_records(records)
            self._update_readout(records)
        self._append_reply()
        self._update_save()
        self._update_stream_status()
        self._update_engine_state()
        if idle:  # the graphs drew their last state while it was busy; the watchdogs above still run
            if now - self._last_active > self.standby_after_s:
                self.core.standby()
            self._update_demo()
            return
        self._update_current()
        voice = self.core.voice_state()
        if voice is not None and voice.mic_stopped and not self.voice_state.text().startswith("the microphone stopped"):
            self.voice_state.setText(MIC_STOPPED)
        elif voice is not None and voice.canceller == "aec3":
            text = AEC3_LEARNING if voice.adapting else f"listening ({VOICE_MODES['aec3']})"
            if text != self.voice_state.text() and self.voice_state.text().startswith("listening"):
                self.voice_state.setText(text)
        player = self.core.player
        if player is not None:
            self.graphs.add_ring_level(time.perf_counter() - self._t_start, player.queued_s() * 1000)
            self.graphs.set_output(player.recent_output(0.5), player.rate)
        self._update_demo()

    def _update_readout(self, records: list[RequestMetrics]) -> None:
        if not records:
            return
        last = records[-1]
        if last.outcome == "failed" and last.error:
            self.show_error(f"That request failed: {last.error}")
        self.readout.setText(readout_html(records))

    def _update_current(self) -> None:
        req = self.core.current()
        if req is None:
            return
        events = req.trace.events
        drawn = (req.id, len(events))
        if req.finished.is_set() and drawn == self._drawn:
            return  # a finished request's timeline does not change: do not rebuild it 30 times a second
        self._drawn = drawn
        tl = build(events)
        if tl is None:
            return
        now_ms = (now_ns() - tl.t0_ns) / 1e6
        self.graphs.set_timeline(tl, now_ms)
        self._update_progress(req.id, tl, now_ms)

    def _update_progress(self, request_id: str, tl: Timeline, now_ms: float) -> None:
        now_ms = tl.listener_at(now_ms)  # paused: where it stopped
        text = progress_line(tl, now_ms, self.core.paused)
        if text != self.progress.text():
            self.progress.setText(text)
        # Highlight the phrase being heard, if the editor still holds the text that was spoken.
        span: tuple[int, int] | None = None
        if (self._spoken is not None and self._spoken[0] == request_id and not self._edited_since_speak
                and tl.end_ms is None):
            idx = tl.phrase_at(now_ms)
            if self._spoken[2] is None:  # a model's reply: its words are the editor's, as far as it has come
                self._spans = word_spans(self.editor.toPlainText())
            if idx is not None and idx in tl.phrases and self._spans:
                first, count, _ = tl.phrases[idx]
                word = tl.word_at(now_ms)  # the word being heard, where the engine timed words (Kokoro)
                if word is not None and word[1] < count:
                    first, count = first + word[1], 1
                if first + count <= len(self._spans):
                    base = self._spoken[1]
                    span = (self._spans[first][0] + base, self._spans[first + count - 1][1] + base)
        if span == self._highlight:
            return
        self._highlight = span
        selections: list[QtWidgets.QTextEdit.ExtraSelection] = []
        if span is not None:
            sel = QtWidgets.QTextEdit.ExtraSelection()
            sel.format.setBackground(QtGui.QColor(62, 207, 142, 90))
            cur = self.editor.textCursor()
            cur.setPosition(span[0])
            cur.setPosition(span[1], QtGui.QTextCursor.MoveMode.KeepAnchor)
            sel.cursor = cur
            selections.append(sel)
        self.editor.setExtraSelections(selections)

    @property
    def highlighted(self) -> str | None:
        """The text now highlighted as being heard (tests read it)."""
        if self._highlight is None:
            return None
        return self.editor.toPlainText()[self._highlight[0]:self._highlight[1]]
