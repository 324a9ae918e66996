"""Choosing the engine: the list of models (and a remote server, with its URL and token), the voice and speed, and
the status bar's line and loading bar for the chosen engine. Engines load on their own workers
(`DeskCore.start_engine`); this only starts them and shows how far they are."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6 import QtCore, QtWidgets

from ..core.session import MAX_SPEED, MIN_SPEED
from ..desk.core import REMOTE, DeskCore
from ..desk.readout import ENGINE_STEPS, engine_error, engine_line
from ..engines.catalog import ModelEntry, catalog
from ..errors import UserError

SHRINK = QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon


class EnginePicker(QtCore.QObject):
    """The engine, voice and speed boxes, Kokoro's switch and the remote server's row (the window lays them out),
    and the status bar's `state` and `bar`."""

    def __init__(self, core: DeskCore, settings: QtCore.QSettings, show_error: Callable[[str], None],
                 clear_error: Callable[[], None], parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.core, self.settings, self._show_error, self._clear_error = core, settings, show_error, clear_error
        self.entries: dict[str, ModelEntry] = {e.id: e for e in catalog()}
        self._voices_for: str | None = None  # the engine whose voices the voice box lists
        self._shown_error: tuple[str, str] | None = None
        # Combo boxes size to a few words, not to their longest entry: the left column fits 1280×720 screens.
        self.box = QtWidgets.QComboBox()
        for e in self.entries.values():
            self.box.addItem(e.title, e.id)
        self.box.addItem("Remote server (voicetrace serve, or OpenAI-compatible)", REMOTE)
        self.box.currentIndexChanged.connect(self.changed)
        self.box.setSizeAdjustPolicy(SHRINK)
        self.box.setMinimumContentsLength(14)
        self.voice_box = QtWidgets.QComboBox()
        self.voice_box.setEditable(True)
        self.voice_box.setToolTip("A voice id; Kokoro also takes blends like jm_kumo(2)+jf_alpha(1)")
        self.voice_box.setSizeAdjustPolicy(SHRINK)
        self.voice_box.setMinimumContentsLength(10)
        self.speed_box = QtWidgets.QDoubleSpinBox()
        self.speed_box.setRange(MIN_SPEED, MAX_SPEED)
        self.speed_box.setSingleStep(0.1)
        self.speed_box.setValue(1.0)
        self.speed_box.setSuffix("×")
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
        for w, stretch in ((QtWidgets.QLabel("Server"), 0), (self.remote_url, 3), (self.remote_token, 1),
                           (self.remote_btn, 0)):
            rr.addWidget(w, stretch)
        self.remote_row.hide()
        self.kokoro_stream = QtWidgets.QCheckBox("Kokoro in pieces")
        self.kokoro_stream.setChecked(True)
        self.kokoro_stream.setToolTip("Kokoro decodes each phrase in pieces, its first 200 ms of voice first "
                                      "(off: each phrase whole before it plays, as before — compare by ear)")
        self.kokoro_stream.toggled.connect(self.core.set_kokoro_stream)
        self.state = QtWidgets.QLabel()
        self.bar = QtWidgets.QProgressBar()
        self.bar.setRange(0, 3)
        self.bar.setFixedWidth(120)
        self.bar.setTextVisible(False)

    @property
    def engine_id(self) -> str:
        return str(self.box.currentData())

    @property
    def voice(self) -> str | None:
        return self.voice_box.currentText().strip() or None

    def choose(self, engine_id: str) -> None:
        """Select `engine_id` (the first engine if it is not in the list) and start it."""
        self.box.setCurrentIndex(max(0, self.box.findData(engine_id)))
        self.changed()

    def changed(self) -> None:
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
                self._show_error(str(exc))
        self._voices_for = None  # fill the voice list once this engine is ready
        self.voice_box.clear()
        saved = self.settings.value(f"voice/{engine}")
        self.voice_box.setEditText(str(saved) if saved else "")

    def connect_remote(self) -> None:
        """Connect the Remote engine to the URL typed (connecting runs on the engine's worker)."""
        url = self.remote_url.text().strip()
        if not url:
            self._show_error("Enter the remote server's URL: ws://HOST:8880 for `voicetrace serve`, or "
                             "http://HOST:PORT/v1 for an OpenAI-compatible server.")
            return
        try:
            self.core.connect_remote(url, self.remote_token.text().strip() or None)
        except UserError as exc:
            self._show_error(str(exc))
            return
        self._clear_error()
        self._shown_error = None
        self._voices_for = None
        self.settings.setValue("remote/url", url)

    def update_state(self) -> bool:
        """The status bar's line for the chosen engine, its error once, its voices once it is warm. True: it is
        ready."""
        engine, remote = self.engine_id, self.engine_id == REMOTE
        st = self.core.engine_status(engine)
        title = (self.entries[engine].title if engine in self.entries
                 else f"Remote {self.remote_url.text().strip()}" if remote else engine)
        self.state.setText(engine_line(title, st.state, remote, self.core.is_busy(), self.core.paused))
        self.state.setProperty("state", st.state)
        self.bar.setValue(ENGINE_STEPS.get(st.state, 0))
        self.bar.setVisible(st.state not in ("ready", "error"))
        if st.state == "error" and st.error and self._shown_error != (engine, st.error):
            self._shown_error = (engine, st.error)
            self._show_error(engine_error(title, st.error, remote))
        if st.state != "ready":
            return False
        voices = self.core.voices(engine)
        if voices and self._voices_for != engine:  # offer its voices, keeping the one typed
            self._voices_for = engine
            current = self.voice_box.currentText() or self.core.default_voice(engine) or ""
            self.voice_box.clear()
            self.voice_box.addItems(voices)
            self.voice_box.setEditText(current)
        return True
