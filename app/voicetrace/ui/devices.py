"""The audio devices the window offers: the output (listed and opened off the Qt thread, watched for loss) and,
for barge-in by voice, the microphone with its echo canceller."""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtWidgets

from ..audio.devices import OutputDevice
from ..audio.player import Player
from ..desk.core import DeskCore
from ..desk.readout import MIC_STOPPED, VOICE_MODES, voice_listening
from .tasks import Background

SHRINK = QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon


def _fill(box: QtWidgets.QComboBox, devices: list[OutputDevice]) -> None:
    box.clear()
    for d in devices:
        box.addItem(f"{d.name}  ({d.hostapi})", d.index)


class OutputChooser(QtWidgets.QWidget):
    """The output device list with its refresh button, and the volume; `state` (for the status bar) says what is
    open."""

    def __init__(self, core: DeskCore, settings: QtCore.QSettings, tasks: Background,
                 show_error: Callable[[str], None], opened: Callable[[], None]) -> None:
        super().__init__()
        self.core, self.settings, self.tasks = core, settings, tasks
        self._show_error, self._opened = show_error, opened
        self._opening = False
        self.box = QtWidgets.QComboBox()
        self.box.setSizeAdjustPolicy(SHRINK)  # a few words wide, not its longest entry: fits 1280×720
        self.box.setMinimumContentsLength(14)
        self.box.activated.connect(self._on_chosen)
        self.refresh_btn = QtWidgets.QToolButton()
        self.refresh_btn.setText("⟳")
        self.refresh_btn.setToolTip("Refresh the list of output devices")
        self.refresh_btn.clicked.connect(self.refresh)
        self.volume = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)  # the window lays it out
        self.volume.setRange(0, 100)
        self.volume.setValue(100)
        self.volume.setMinimumWidth(90)
        self.volume.valueChanged.connect(self._on_volume)
        self.state = QtWidgets.QLabel()
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.box, 1)
        row.addWidget(self.refresh_btn)

    def refresh(self) -> None:
        """List the output devices (PortAudio may take a while), then open one."""
        if self._opening:
            return
        self._opening = True
        self.state.setText("looking for output devices…")
        self.tasks.run("list-devices", self.core.list_devices, self._on_listed)

    def _on_listed(self, devices: list[OutputDevice] | None, error: str) -> None:
        self._opening = False
        devices = devices or []
        want = str(self.settings.value("device", ""))
        _fill(self.box, devices)
        if not devices:
            self.box.addItem("(no output device)", None)
            self.state.setText("no output device")
            self._show_error((f"{error}\n" if error else "") + "No audio output device was found.\nConnect "
                             "headphones or speakers, or start a sound server (PipeWire, PulseAudio or JACK), then "
                             "press ⟳.")
            return
        current = self.core.player.device.index if self.core.player is not None else None
        pick = next((i for i in range(self.box.count()) if self.box.itemData(i) == current), -1)
        if pick < 0 and want:
            pick = self.box.findText(want)
        if pick < 0:
            pick = next((i for i, d in enumerate(devices) if d.is_default), 0)
        self.box.setCurrentIndex(pick)
        if self.core.player is None or self.core.player.device.index != self.box.itemData(pick):
            self._open(self.box.itemData(pick))
        else:
            self._show(self.core.player)

    def _on_chosen(self, _i: int) -> None:
        idx = self.box.currentData()
        if idx is not None and (self.core.player is None or self.core.player.device.index != idx):
            self._open(idx)

    def _open(self, index: int) -> None:
        if self._opening:
            return
        self._opening = True
        self.state.setText("opening the output device…")
        volume = self.volume.value() / 100

        def work() -> Player:
            player = self.core.open_device(index)
            player.volume = volume
            return player

        self.tasks.run("open-device", work, self._on_opened)

    def _on_opened(self, player: Player | None, error: str) -> None:
        self._opening = False
        if player is None:
            self.state.setText("no output device")
            self._show_error(f"Cannot use that output device: {error}\nPick another device, or press ⟳.")
            return
        self._show(player)
        self._opened()

    def _show(self, player: Player) -> None:
        self.state.setText(f"{player.device.name} · {player.rate} Hz · {player.output_latency_s * 1000:.1f} ms latency")

    def _on_volume(self, value: int) -> None:
        if self.core.player is not None:
            self.core.player.volume = value / 100

    def check(self) -> None:
        """The watchdog, each tick: say once that the device was lost."""
        err = self.core.check_device()
        if err is not None and self.state.text() != "device lost":
            self.state.setText("device lost")
            self._show_error(f"{err[:1].upper()}{err[1:]}.\nPlug it back in or pick another output, then press ⟳.")


class VoiceRow(QtWidgets.QWidget):
    """Barge-in by voice: listen to the microphone while speaking, and stop when the user talks."""

    def __init__(self, core: DeskCore, settings: QtCore.QSettings, tasks: Background,
                 show_error: Callable[[str], None]) -> None:
        super().__init__()
        self.core, self.settings, self.tasks, self._show_error = core, settings, tasks, show_error
        self.toggle = QtWidgets.QCheckBox("Barge-in by voice")
        self.toggle.setToolTip("Listen to the microphone while speaking: when you talk (at least "
                               "200 ms), it stops, as Interrupt does")
        self.toggle.toggled.connect(self._on_toggled)
        self.inputs = QtWidgets.QComboBox()
        self.inputs.setSizeAdjustPolicy(SHRINK)
        self.inputs.setMinimumContentsLength(12)
        self.inputs.setToolTip("The microphone")
        self.inputs.activated.connect(lambda _i: self.restart())
        self.headphones = QtWidgets.QCheckBox("Headphones")
        self.headphones.setToolTip("The microphone cannot hear the app: no echo canceller. Leave off with "
                                   "speakers: WebRTC AEC3 then removes the app's own voice from the microphone")
        self.headphones.toggled.connect(lambda _on: self.restart())
        self.state = QtWidgets.QLabel("off")
        self.state.setObjectName("voiceState")
        h = QtWidgets.QHBoxLayout(self)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.toggle)
        h.addWidget(QtWidgets.QLabel("Microphone"))
        h.addWidget(self.inputs, 1)
        h.addWidget(self.headphones)
        h.addWidget(self.state, 1)

    def _on_toggled(self, on: bool) -> None:
        if on:
            self.state.setText("finding microphones…")
            self.tasks.run("list-inputs", self.core.list_input_devices, self._on_inputs_listed)
        else:
            self.tasks.run("stop-voice", self.core.stop_voice_barge_in)
            self.state.setText("off")

    def _on_inputs_listed(self, devices: list[OutputDevice] | None, error: str) -> None:
        devices = devices or []
        _fill(self.inputs, devices)
        want = str(self.settings.value("input_device", ""))
        pick = self.inputs.findText(want) if want else -1
        if not devices:
            self.toggle.setChecked(False)
            self._show_error((f"{error}\n" if error else "") + "No microphone was found, so barge-in by voice is "
                             "off.\nConnect one (or start a sound server), then tick it again.")
            return
        self.inputs.setCurrentIndex(pick if pick >= 0 else next((i for i, d in enumerate(devices) if d.is_default), 0))
        self.restart()

    def restart(self) -> None:
        """(Re)open the microphone chosen, with the canceller the output calls for (opening blocks: off the Qt
        thread)."""
        if not self.toggle.isChecked() or self.inputs.count() == 0:
            return
        index, headphones = self.inputs.currentData(), self.headphones.isChecked()
        self.state.setText("opening the microphone…")
        self.tasks.run("start-voice", lambda: self.core.start_voice_barge_in(index, headphones), self._on_started)

    def _on_started(self, _name: str | None, error: str) -> None:
        if error:
            self.toggle.setChecked(False)
            self._show_error(f"Barge-in by voice is off: {error}")
            return
        v = self.core.voice_state()
        self.state.setText(voice_listening(v.route, v.canceller, v.adapting) if v is not None
                           else f"listening ({VOICE_MODES['off']})")
        self.state.setToolTip(v.route_reason or v.canceller_note if v is not None else "")

    def update_state(self) -> None:
        """Each tick while listening: a microphone that stopped, the way `auto` reads the microphone (AEC3, still
        learning the room or not, or the microphone as it is), and why (the tooltip)."""
        v = self.core.voice_state()
        if v is None:
            return
        text = self.state.text()
        if v.mic_stopped and not text.startswith("the microphone stopped"):
            self.state.setText(MIC_STOPPED)
        elif text.startswith("listening"):
            new = voice_listening(v.route, v.canceller, v.adapting)
            if new != text:
                self.state.setText(new)
            reason = v.route_reason or v.canceller_note
            if reason != self.state.toolTip():
                self.state.setToolTip(reason)
