"""The main window: its widgets and how they are wired to the desk (`desk.core.DeskCore`). The Qt thread only reacts
to the user and redraws: engines load and synthesise on their worker threads, devices open on helper threads
(`tasks.Background`), and a 10 Hz timer reads the traces and the player's ring/scope to update the graphs (it never
asks an engine anything). What the figures say is `desk.readout`; where the reader is, `desk.reader`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from ..contract import RequestMetrics
from ..core.report import markdown_report
from ..core.session import Request
from ..core.timeline import build
from ..core.trace import now_ns
from ..desk.core import REMOTE, DeskCore
from ..desk.files import export_records, read_text_file
from ..desk.readout import progress_line, readout_html
from ..errors import UserError
from . import dialogs
from . import settings as kept
from .devices import OutputChooser, VoiceRow
from .editor import TextEditor
from .engines import EnginePicker
from .graphs import WAVE_MS, LiveGraphs
from .presenter import PresenterView
from .status import Banner, SaveStatus
from .table import MetricsTable
from .tabs import DemoTab, StreamTab, add_row
from .tasks import Background

# 10 Hz while something speaks or a graph is changing (the timeline and ring redraw at 5 Hz: graphs.SLOW_S).
# While Kokoro spoke the window's own thread took 48 % of a core at 30 Hz, 24 % at 20 Hz (offscreen); see
# docs/measurements.md, "The window", for the figures under X11.
TICK_MS = 100
# Idle (nothing speaking, nothing pending for a second): only the watchdogs and the status bar, twice a second,
# and no redraw (the 30 Hz redraw alone kept 14-16 % of a core busy with nothing to show).
IDLE_TICK_MS = 500
IDLE_AFTER_S = 1.0
VOICE_FIRST_BELOW_S = 0.3  # queued audio under which, while it synthesises, the graphs yield (graphs.HELD_S)
STANDBY_AFTER_S = 8.0  # idle this long: the stream closes too (an open one took 2.5 % of a core doing nothing)
PAUSE, RESUME = "‖  Pause", "▶  Resume"


def _button(text: str, name: str, tip: str, slot: object) -> QtWidgets.QPushButton:
    b = QtWidgets.QPushButton(text)
    b.setObjectName(name)
    b.setToolTip(tip)
    b.clicked.connect(slot)
    b.setMinimumHeight(56)
    return b


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, core: DeskCore, settings: QtCore.QSettings, engine: str | None = None,
                 greet: bool = False, remote_url: str | None = None, remote_token: str | None = None) -> None:
        super().__init__()
        self.core = core
        self.settings = settings
        self.greet_pending = greet
        self.tasks = Background(self)
        self._records_version = -1
        self._drawn: tuple[str, int] | None = None  # (request id, trace length) of the timeline drawn
        self._t_start = time.perf_counter()
        self.setWindowTitle("VoiceTrace")
        self.setAcceptDrops(True)
        self._build()
        if remote_url:
            self.engines.remote_url.setText(remote_url)
            engine = REMOTE
        if remote_token:
            self.engines.remote_token.setText(remote_token)
        self.geometry_restored = kept.restore_layout(self, settings, self.layout_key(), self.top_split, self.splitter)
        kept.restore(self, settings)
        self.engines.choose(engine or str(settings.value("engine", "kokoro")))
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        self._last_active = time.monotonic()
        self.standby_after_s = STANDBY_AFTER_S
        self.timer.start()
        self.outputs.refresh()

    # ---- layout ------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.banner = Banner()
        self.editor = TextEditor()
        self.editor.setPlaceholderText("Type or paste text, or drop a .txt / .md file here")
        self.editor.edited.connect(self.core.wake_output)  # typing: Speak comes next, so the stream reopens now
        self.editor.file_dropped.connect(self.open_file)
        self.editor.speak_from.connect(self.speak_from_cursor)

        self.engines = EnginePicker(self.core, self.settings, self.show_error, self.clear_error, self)
        self.outputs = OutputChooser(self.core, self.settings, self.tasks, self.show_error, self.clear_error)
        self.voice_row = VoiceRow(self.core, self.settings, self.tasks, self.show_error)
        form = QtWidgets.QGridLayout()
        add_row(form, 0, "Engine", self.engines.box, "Voice", self.engines.voice_box)
        add_row(form, 1, "Output", self.outputs, "Speed", self.engines.speed_box)
        add_row(form, 2, "Volume", self.outputs.volume)
        form.addWidget(self.engines.kokoro_stream, 2, 2, 1, 2)
        form.addWidget(self.engines.remote_row, 3, 0, 1, 4)
        form.addWidget(self.voice_row, 4, 0, 1, 4)
        form.setColumnStretch(1, 2)
        form.setColumnStretch(3, 1)

        self.speak_btn = _button("▶  Speak", "speak", "Speak the text (or the selection) — Ctrl+Enter", self.speak)
        self.speak_btn.setEnabled(False)  # until the chosen engine is warm and a device is open
        self.pause_btn = _button(PAUSE, "pause", "Pause / resume — Space (outside the editor), Ctrl+Space anywhere",
                                 self.toggle_pause)
        self.pause_btn.setEnabled(False)
        self.interrupt_btn = _button("■  Interrupt", "interrupt", "Barge in: silence it now — Esc", self.interrupt)
        buttons = QtWidgets.QHBoxLayout()
        for button, stretch in ((self.speak_btn, 1), (self.pause_btn, 1), (self.interrupt_btn, 2)):
            buttons.addWidget(button, stretch)

        self.progress = QtWidgets.QLabel(" ")
        self.progress.setObjectName("progress")
        self.readout = QtWidgets.QLabel("—")
        self.readout.setObjectName("readout")
        self.readout.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.readout.setWordWrap(True)
        left = QtWidgets.QWidget()
        lv = QtWidgets.QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.banner)
        lv.addWidget(self.editor, 1)
        lv.addWidget(self.editor.counter)
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
        self.demo_tab = DemoTab(self.core)
        self.demo_tab.button.clicked.connect(self.toggle_demo)
        self.stream_tab = StreamTab(self.core, self.editor, self._start_stream, self.show_error)
        self.tabs = QtWidgets.QTabWidget()
        for tab, title in ((self.table, "Requests"), (self.demo_tab, "Barge-in demo"),
                           (self.stream_tab, "Streamed text")):
            self.tabs.addTab(tab, title)
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

        self.save_status = SaveStatus(self.statusBar().showMessage, self.show_error)
        for w in (self.save_status, self.outputs.state, self.engines.state, self.engines.bar):
            self.statusBar().addPermanentWidget(w)
        self._build_menus()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction("&Open text…", QtGui.QKeySequence.StandardKey.Open,
                            lambda: self.open_file(dialogs.text_file(self)))
        file_menu.addAction("&Save speech as…", QtGui.QKeySequence.StandardKey.Save,
                            lambda: self.save_speech(dialogs.speech_file(self)))
        file_menu.addSeparator()
        file_menu.addAction("Export metrics as &CSV…",
                            lambda: self.export_metrics(dialogs.export_file(self, "csv"), "csv"))
        file_menu.addAction("Export metrics as &JSON…",
                            lambda: self.export_metrics(dialogs.export_file(self, "json"), "json"))
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
        help_menu.addAction("&About VoiceTrace", lambda: dialogs.about(self))
        anywhere = QtCore.Qt.ShortcutContext.ApplicationShortcut
        # Space pauses wherever text is not being typed (a text field takes its own Space first); Ctrl+Space
        # everywhere, the editor included.
        for keys, slot, context in (
                ("Ctrl+Return", self.speak, None), ("Ctrl+Enter", self.speak, None),
                ("Escape", self.interrupt, anywhere), ("Space", self.toggle_pause, None),
                ("Alt+Right", lambda: self.skip_sentence(1), anywhere),
                ("Alt+Left", lambda: self.skip_sentence(-1), anywhere),
                ("Ctrl+Shift+Return", self.speak_from_cursor, None), ("Ctrl+Shift+Enter", self.speak_from_cursor, None),
                ("Ctrl+Space", self.toggle_pause, anywhere)):
            shortcut = QtGui.QShortcut(QtGui.QKeySequence(keys), self, slot)
            if context is not None:
                shortcut.setContext(context)

    # ---- settings ----------------------------------------------------------------------------------
    def layout_key(self) -> str:
        """Where the window's layout is kept: one per size of the screen it is on."""
        avail = self.screen().availableGeometry()
        return f"layout/{avail.width()}x{avail.height()}"

    def save_settings(self) -> None:
        kept.save_layout(self, self.settings, self.layout_key(), self.top_split, self.splitter)
        kept.save(self, self.settings)
        self.settings.setValue("engine", self.engines.engine_id)
        self.settings.setValue(f"voice/{self.engines.engine_id}", self.engines.voice_box.currentText())
        self.settings.sync()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.timer.stop()
        self.save_status.cancel()
        self.demo_tab.stop()
        self.save_settings()
        self.core.close()
        super().closeEvent(event)

    # ---- messages ----------------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.banner.say(message)
        self.statusBar().showMessage(message.splitlines()[0], 10_000)

    def clear_error(self) -> None:
        self.banner.clear()

    # ---- text and files ------------------------------------------------------------------------------
    def open_file(self, path: str) -> None:
        """Open a text file into the editor ("": a dialog was cancelled)."""
        if not path:
            return
        try:
            text = read_text_file(path)
        except UserError as exc:
            self.show_error(str(exc))
            return
        self.editor.setPlainText(text)
        self.statusBar().showMessage(f"opened {Path(path).name} ({len(text):,} characters)", 5000)

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            self.open_file(files[0])

    def save_speech(self, path: str) -> None:
        """The selection (or the whole text) synthesised into `path` in the background, on the chosen engine
        and voice, with a progress bar and Cancel in the status bar; the window stays usable meanwhile."""
        if not path:
            return
        if self.save_status.busy:
            self.statusBar().showMessage("a file is being saved already: wait, or cancel it", 4000)
            return
        try:
            saving = self.core.save_speech(self.editor.selection_or_all()[0], self.engines.engine_id,
                                           self.engines.voice, self.engines.speed_box.value(), path)
            self.save_status.follow(saving)
        except UserError as exc:
            self.show_error(f"Cannot save the speech: {exc}")

    def export_metrics(self, path: str, kind: str) -> None:
        if not path:
            return
        records = list(self.core.records)
        try:
            export_records(path, records, kind)
        except OSError as exc:
            self.show_error(f"Cannot write {path} ({exc.strerror}).\nChoose another folder.")
            return
        self.statusBar().showMessage(f"wrote {len(records)} requests to {path}", 5000)

    def copy_report(self) -> str:
        device = self.core.player.device.name if self.core.player is not None else None
        text = markdown_report(list(self.core.records), device)
        QtGui.QGuiApplication.clipboard().setText(text)
        self.statusBar().showMessage("report copied to the clipboard", 3000)
        return text

    # ---- engines and speaking -----------------------------------------------------------------------
    def _update_buttons(self) -> None:
        """What can be pressed now; once the chosen engine is warm, the greeting, then the other engines load."""
        ready = self.engines.update_state()
        busy = self.core.is_busy()
        can = ready and self.core.session is not None and not self.demo_tab.running
        self.speak_btn.setEnabled(can)
        self.interrupt_btn.setEnabled(busy)
        self.pause_btn.setEnabled(busy)
        if not busy and self.pause_btn.text() != PAUSE:
            self._show_paused(False)
        self.demo_tab.button.setEnabled(can or self.demo_tab.running)
        if ready and self.greet_pending and self.core.session is not None:
            self.greet_pending = False
            self.speak()
        if ready and not self.greet_pending:
            self.core.preload_next(self.engines.entries)

    # ---- speak / interrupt / read ------------------------------------------------------------------
    def speak(self) -> None:
        """Speak the selection, or the whole text."""
        t_click = now_ns()  # TTFA counts from the click
        self._speak_range(*self.editor.selection_or_all(), t_click)

    def _can_speak(self) -> bool:
        """Speak is possible now; if not, say why."""
        self.wake()
        if self.speak_btn.isEnabled():
            return True
        st = self.core.engine_status(self.engines.engine_id)
        if self.core.session is None:
            self.show_error(self.core.device_error or "No output device is open: pick one, or press ⟳.")
        elif st.state != "ready":
            self.statusBar().showMessage(f"{self.engines.engine_id} is {st.state}; Speak works once it is warm", 4000)
        return False

    def _submit(self, start: Callable[[str, str | None, float], Request]) -> Request | None:
        """Start a request on the engine, voice and speed chosen; None when it cannot start (the user is told)."""
        if not self._can_speak():
            return None
        try:
            req = start(self.engines.engine_id, self.engines.voice, self.engines.speed_box.value())
        except UserError as exc:
            self.show_error(str(exc))
            return None
        self.clear_error()
        self.interrupt_btn.setEnabled(True)
        self.pause_btn.setEnabled(True)
        self.pause_btn.setFocus()  # out of the editor: Space now pauses
        return req

    def _speak_range(self, text: str, offset: int, t_click: int) -> None:
        """Speak `text`, found at `offset` in the editor (the highlight follows it there)."""
        req = self._submit(lambda engine, voice, speed: self.core.speak(text, engine, voice, speed,
                                                                        t_submit_ns=t_click))
        if req is not None:
            self._show_paused(False)
            self.editor.reader.read_text(req.id, offset, text)

    def _start_stream(self, pieces: Iterable[str], offset: int, text: str | None,
                      on_piece: Callable[[str], None] | None, on_cancel: Callable[[], None] | None) -> str | None:
        """Speak text fed as it comes (the streamed-text tab); the request's id, or None when it cannot start."""
        req = self._submit(lambda engine, voice, speed: self.core.speak_stream(pieces, engine, voice, speed,
                                                                               on_piece=on_piece, on_cancel=on_cancel))
        if req is None:
            return None
        self.editor.reader.read_stream(req.id, offset, text)
        return req.id

    def skip_sentence(self, step: int) -> None:
        """Alt+→ / Alt+←: cancel what plays (the normal cancel path) and speak from the next / previous
        sentence's start to the end of what was being read."""
        t_click = now_ns()
        skip = self.editor.skip_range(step, self.core.is_busy())
        if isinstance(skip, str):
            self.statusBar().showMessage(skip, 2000)
            return
        self._speak_range(*skip, t_click)

    def speak_from_cursor(self, position: int | None = None) -> None:
        """Start here (Ctrl+Shift+Enter, or the editor's context menu): speak from the start of the sentence
        under the cursor (or `position`) to the end of the text."""
        t_click = now_ns()
        self._speak_range(*self.editor.range_from(position), t_click)

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
        self.pause_btn.setText(RESUME if paused else PAUSE)

    def toggle_demo(self) -> None:
        self.wake()
        error = self.demo_tab.toggle(self.engines.engine_id, self.engines.voice, self.engines.speed_box.value())
        if error:
            self.show_error(error)

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
        return self.core.is_busy() or self.core.has_pending() or self.stream_tab.busy or self.demo_tab.running

    def tick(self) -> None:
        now = time.monotonic()
        if self._busy():
            self._last_active = now
        idle = now - self._last_active > IDLE_AFTER_S
        interval = IDLE_TICK_MS if idle else TICK_MS
        if self.timer.interval() != interval:
            self.timer.setInterval(interval)
        self.outputs.check()
        self.core.poll_finished()
        for message in self.core.take_messages():
            self.show_error(message)
        if self.core.records_version != self._records_version:
            self._records_version = self.core.records_version
            self._show_records(list(self.core.records))
        self.save_status.update_progress()
        self.stream_tab.update_status()
        self._update_buttons()
        if idle:  # the graphs drew their last state while it was busy; the watchdogs above still run
            if now - self._last_active > self.standby_after_s:
                self.core.standby()
            self.demo_tab.update_status()
            return
        self._update_current()
        self.voice_row.update_state()
        player = self.core.player
        if player is not None:
            self.graphs.add_ring_level(time.perf_counter() - self._t_start, player.queued_s() * 1000)
            self.graphs.set_output(player.recent_output(WAVE_MS / 1000), player.rate)
        self.demo_tab.update_status()

    def _show_records(self, records: list[RequestMetrics]) -> None:
        self.graphs.set_history(records)
        if self.presenting:
            self.presenter.show_records(records)
        self.table.set_records(records)
        if records:
            last = records[-1]
            if last.outcome == "failed" and last.error:
                self.show_error(f"That request failed: {last.error}")
            self.readout.setText(readout_html(records))

    def _update_current(self) -> None:
        req = self.core.current()
        if req is None:
            self.graphs.held = False
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
        player = self.core.player
        self.graphs.held = (player is not None and tl.end_ms is None and player.queued_s() < VOICE_FIRST_BELOW_S
                            and any(end is None for _, end in tl.synth.values()))
        self.graphs.set_timeline(tl, now_ms, req.id)
        listener_ms = tl.listener_at(now_ms)  # paused: where it stopped
        text = progress_line(tl, listener_ms, self.core.paused)
        if text != self.progress.text():
            self.progress.setText(text)
        self.editor.follow(req.id, tl, listener_ms)
