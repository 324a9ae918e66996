"""The live graphs (pyqtgraph): TTFA per request, the current request's chunk timeline, ring level,
cancel latency per interrupt, and the level/waveform of what the device is playing. They only draw what
the window hands them (records, a timeline, samples): nothing here measures."""

from __future__ import annotations

import math
import time
from collections import deque
from statistics import median

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..contract import RequestMetrics
from ..core.timeline import Timeline

pg.setConfigOptions(antialias=True, background="#15171c", foreground="#c8ccd4")

SYNTH_COLOR = "#5b8def"
PLAY_COLOR = "#3ecf8e"
UNDERRUN_COLOR = "#ff5c5c"
CALLBACK_COLOR = "#f5a524"
AUDIBLE_COLOR = "#5b8def"
SILENCE_COLOR = "#ff7a59"
IDLE_COLOR = "#b07cff"
RING_SECONDS = 10.0
# The chunk timeline and the ring level redraw at most this often (the window ticks at 10 Hz for the waveform and
# the highlight): each redraw of a plot repaints its whole view, the axes with it.
SLOW_S = 0.2
# While the voice needs the cores (synthesis running, little audio queued: a request's start, a late piece) the
# plots redraw at most this often: their painting under X11 took the cores Kokoro's first pieces needed.
HELD_S = 1.0
WAVE_MS = 500.0  # the waveform shows the last half second
WAVE_BINS = 200  # columns of the waveform's min/max envelope (600 cost three times the path for no visible gain)


def running_median(values: list[float]) -> list[float]:
    out, seen = [], []
    for v in values:
        seen.append(v)
        out.append(median(seen))
    return out


def chunk_step(top: int, height_px: float, label_px: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50… chunks between two labels that leaves `label_px` between them on an
    axis of `height_px` showing chunks 0 to `top` (and the margins of the chunk timeline's view)."""
    per_chunk = max(1.0, height_px) / (top + 1.4)
    k = 0
    while (step := (1, 2, 5)[k % 3] * 10 ** (k // 3)) * per_chunk < label_px:
        k += 1
    return step


def _points(records: list[RequestMetrics], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for i, r in enumerate(records):
        v = getattr(r, key)
        if v is not None:
            xs.append(float(i + 1))
            ys.append(float(v))
    return xs, ys


def _plot(title: str, left: str, bottom: str, legend_columns: int = 0, legend_right: bool = False,
          grid: bool = True) -> pg.PlotWidget:
    """A plot whose legend (when it has one) sits below its axis or right of the plot, in the plot's own
    layout: never on the data, however small the window."""
    w = pg.PlotWidget()
    w.setTitle(title, size="9pt")
    w.setLabel("left", left)
    w.setLabel("bottom", bottom)
    if grid:
        w.showGrid(x=True, y=True, alpha=0.2)
    if legend_columns:
        item = w.getPlotItem()
        legend = pg.LegendItem(labelTextSize="7pt", colCount=legend_columns, verSpacing=-6, horSpacing=8)
        # as tall / wide as its entries, at the top: stretched over a tall plot, its labels drifted off their marks
        legend.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Maximum)
        if legend_right:
            item.layout.addItem(legend, 2, 3)
            item.layout.setAlignment(legend, QtCore.Qt.AlignmentFlag.AlignTop)
            # the title over the data and the legend both: in the data's column alone its width would be the
            # plot's minimum, and a narrow plot overflowed its widget (the legend cut off at the window's edge)
            item.layout.removeItem(item.titleLabel)
            item.layout.addItem(item.titleLabel, 0, 1, 1, 3)
            item.getViewBox().setMinimumWidth(60)
            item.setLabel("bottom", None)  # "per request" is in the title: the height goes to the data
        else:
            item.layout.addItem(legend, 4, 1)
        item.legend = legend  # curves plotted with a name join it (PlotItem.addItem)
    w.setMenuEnabled(False)
    w.setMinimumHeight(120)
    return w


def legend_of(plot: pg.PlotWidget) -> pg.LegendItem | None:
    return plot.getPlotItem().legend


class HistoryPlots:
    """TTFA per request and cancel latency per interrupt: the two plots of every request so far (the live
    graphs' top row, and the presenter view's, larger)."""

    def __init__(self) -> None:
        self.ttfa = _plot("Time to first audio per request", "ms", "request", 1, legend_right=True)
        self.ttfa_cb = self.ttfa.plot([], [], pen=None, symbol="o", symbolSize=6, symbolBrush=CALLBACK_COLOR,
                                      name="callback")
        self.ttfa_aud = self.ttfa.plot([], [], pen=None, symbol="t", symbolSize=7, symbolBrush=AUDIBLE_COLOR,
                                       name="audible")
        self.ttfa_cached = self.ttfa.plot([], [], pen=None, symbol="t", symbolSize=9, symbolBrush=None,
                                          symbolPen=pg.mkPen(AUDIBLE_COLOR, width=1.5),
                                          name="cached")
        self.ttfa_med = self.ttfa.plot([], [], pen=pg.mkPen(AUDIBLE_COLOR, width=2), name="median")

        self.cancel = _plot("Cancel latency per interrupt", "ms", "interrupt", 1, legend_right=True)
        self.c_sil = self.cancel.plot([], [], pen=None, symbol="o", symbolSize=6, symbolBrush=SILENCE_COLOR,
                                      name="→ silence")
        self.c_idle = self.cancel.plot([], [], pen=None, symbol="s", symbolSize=6, symbolBrush=IDLE_COLOR,
                                       name="→ engine idle")
        self.c_sil_med = self.cancel.plot([], [], pen=pg.mkPen(SILENCE_COLOR, width=2), name="median")
        # Voice barge-in: from when the user started talking (the true onset in the microphone) to silence.
        self.c_voice = self.cancel.plot([], [], pen=None, symbol="t1", symbolSize=9, symbolBrush="#f0b429",
                                        name="you spoke → silence")

        self.points_ttfa = 0
        self.points_cancel = 0
        self._records: list[RequestMetrics] = []
        self._ids: set[str] = set()
        self._live: tuple[str, float, float] | None = None  # (request, callback ms, DAC ms): not recorded yet

    def set_live(self, request_id: str, first_audio: tuple[float, float] | None) -> None:
        """The request playing now: its TTFA point shows once its first audio plays (its record comes when
        it ends)."""
        live = None if first_audio is None or request_id in self._ids else (request_id, *first_audio)
        if live != self._live:
            self._live = live
            self._draw_ttfa()

    def _draw_ttfa(self) -> None:
        records, live = self._records, self._live
        if live is not None and live[0] in self._ids:
            live = self._live = None
        x, y = _points(records, "ttfa_callback_ms")
        if live is not None:
            x, y = [*x, len(records) + 1.0], [*y, live[1]]
        self.ttfa_cb.setData(x, y)
        x, y = _points(records, "ttfa_audible_ms")
        cached = [r.first_chunk_cached for r in records if r.ttfa_audible_ms is not None]
        if live is not None:  # whether its first phrase came from the cache is known from its record
            x, y, cached = [*x, len(records) + 1.0], [*y, live[2]], [*cached, False]
        self.ttfa_aud.setData([a for a, c in zip(x, cached, strict=True) if not c],
                              [b for b, c in zip(y, cached, strict=True) if not c])
        self.ttfa_cached.setData([a for a, c in zip(x, cached, strict=True) if c],
                                 [b for b, c in zip(y, cached, strict=True) if c])
        self.ttfa_med.setData(x, running_median(y) if y else [])
        self.points_ttfa = len(y)

    def set_history(self, records: list[RequestMetrics]) -> None:
        self._records = records
        self._ids = {r.request_id for r in records}
        self._draw_ttfa()
        interrupts = [r for r in records if r.cancelled]
        x, y = _points(interrupts, "cancel_to_silence_ms")
        self.c_sil.setData(x, y)
        self.c_sil_med.setData(x, running_median(y) if y else [])
        self.points_cancel = len(y)
        x, y = _points(interrupts, "cancel_to_idle_ms")
        self.c_idle.setData(x, y)
        voice = [(i + 1.0, float(r.barge_in.onset_to_silence_ms)) for i, r in enumerate(interrupts)
                 if r.barge_in is not None and r.barge_in.onset_to_silence_ms is not None]
        self.c_voice.setData([a for a, _ in voice], [b for _, b in voice])


class LiveGraphs(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)

        self.history = HistoryPlots()
        self.ttfa, self.cancel = self.history.ttfa, self.history.cancel
        self.chunks = _plot("Chunk timeline (this request)", "chunk", "ms after submit", legend_columns=5)
        self.chunks.getPlotItem().invertY(True)
        self.synth_bars = pg.BarGraphItem(x0=[], y=[], width=[], height=0.35, brush=SYNTH_COLOR, pen=None)
        self.play_bars = pg.BarGraphItem(x0=[], y=[], width=[], height=0.35, brush=PLAY_COLOR, pen=None)
        self.chunks.addItem(self.synth_bars)
        self.chunks.addItem(self.play_bars)
        # Legend entries for the bars (BarGraphItem has no legend sample of its own).
        self.chunks.plot([], [], pen=pg.mkPen(SYNTH_COLOR, width=6), name="synthesis")
        self.chunks.plot([], [], pen=pg.mkPen(PLAY_COLOR, width=6), name="playback (DAC)")
        self.under_marks = self.chunks.plot([], [], pen=None, symbol="x", symbolSize=10,
                                            symbolPen=pg.mkPen(UNDERRUN_COLOR, width=2), name="underrun")
        # streamed input: when text arrived (ticks along the bottom) and when the ring ran dry for want of it
        self.text_marks = self.chunks.plot([], [], pen=None, symbol="t1", symbolSize=7,
                                           symbolBrush=pg.mkBrush("#9aa0aa"), symbolPen=None, name="text arrived")
        self.starve_marks = self.chunks.plot([], [], pen=None, symbol="o", symbolSize=7,
                                             symbolBrush=pg.mkBrush("#f0b429"), symbolPen=None,
                                             name="starved (no text yet)")
        dash = QtCore.Qt.PenStyle.DashLine
        self.cancel_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(SILENCE_COLOR, width=2, style=dash))
        self.cancel_line.hide()
        self.chunks.addItem(self.cancel_line)
        self.speech_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#f0b429", width=2, style=dash),
                                           label="you spoke", labelOpts={"position": 0.9, "color": "#f0b429"})
        self.speech_line.hide()
        self.chunks.addItem(self.speech_line)
        self._chunk_view: tuple[float, int] | None = None  # (x range end, top chunk) drawn
        self._marks: tuple[int, ...] | None = None
        self.chunks.getViewBox().sigResized.connect(self._label_chunks)  # fewer labels fit a shorter plot
        self.now_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#888", width=1))
        self.chunks.addItem(self.now_line)

        # Without a grid: an axis draws its grid lines across the plot, so every tick's new curve repainted the
        # axes too (for the two plots that move every tick).
        self.ring = _plot("Ring buffer level", "ms queued", "s", grid=False)
        # the two plots that move every tick are drawn without antialiasing (a third of their painting cost)
        # and without a fill (filling the area under it cost more than the line)
        self.ring_curve = self.ring.plot([], [], pen=pg.mkPen(PLAY_COLOR, width=2), antialias=False)
        self.ring.setXRange(-RING_SECONDS, 0, padding=0)
        self.ring.getViewBox().disableAutoRange()
        self._ring_top = 0.0  # the y range's top, in steps (a new range regenerates the axis)
        self._ring_t: deque[float] = deque()
        self._ring_v: deque[float] = deque()
        self._drawn_at = {"ring": 0.0, "timeline": 0.0, "wave": 0.0}
        self._held = False  # the window sets it: the voice needs the cores now (see HELD_S)

        self.wave = _plot("Output (what the device plays)", "", "ms", grid=False)
        self.wave.setYRange(-1, 1)
        # a fixed x range: following the data, the view moved a fraction of a sample every tick, and each move
        # regenerated and repainted its axes (the largest share of the Qt thread under X11, py-spy)
        self.wave.setXRange(-WAVE_MS, 0, padding=0)
        self.wave.getViewBox().disableAutoRange()
        self.wave.getPlotItem().getAxis("left").setTicks([[(-1, "-1"), (0, "0"), (1, "1")]])
        self.wave_curve = self.wave.plot([], [], pen=pg.mkPen(PLAY_COLOR, width=1), antialias=False)
        self.level = QtWidgets.QProgressBar()
        self.level.setOrientation(QtCore.Qt.Orientation.Vertical)
        self.level.setRange(-60, 0)
        self.level.setValue(-60)
        self.level.setTextVisible(False)
        self.level.setFixedWidth(18)
        self.level.setToolTip("output level, dBFS (RMS of the last 50 ms)")
        self.level_label = QtWidgets.QLabel("—")
        self.level_label.setMinimumWidth(30)
        self.level_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.level_label.setObjectName("levelLabel")
        wave_box = QtWidgets.QHBoxLayout()
        wave_box.addWidget(self.wave, 1)
        meter = QtWidgets.QVBoxLayout()
        meter.addWidget(self.level, 1)
        meter.addWidget(self.level_label)
        wave_box.addLayout(meter)

        grid.addWidget(self.ttfa, 0, 0)
        grid.addWidget(self.cancel, 0, 1)
        grid.addWidget(self.chunks, 1, 0, 1, 2)
        grid.addWidget(self.ring, 2, 0)
        grid.addLayout(wave_box, 2, 1)
        grid.setRowStretch(1, 3)
        grid.setRowStretch(0, 2)
        grid.setRowStretch(2, 2)

    @property
    def held(self) -> bool:
        return self._held

    @held.setter
    def held(self, value: bool) -> None:
        """A hold starts as if everything had just been drawn: the first redraw comes HELD_S into it. (Drawing at
        once cost the Qt thread 11–21 ms, plus the X server's share, inside Kokoro's first 300 ms.)"""
        if value and not self._held:
            now = time.monotonic()
            self._drawn_at = dict.fromkeys(self._drawn_at, now)
        self._held = value

    # ---- history -----------------------------------------------------------------------------------
    def set_history(self, records: list[RequestMetrics]) -> None:
        self.history.set_history(records)

    def set_live(self, request_id: str, first_audio: tuple[float, float] | None) -> None:
        self.history.set_live(request_id, first_audio)

    @property
    def points_ttfa(self) -> int:
        """How many TTFA points are drawn (tests read it)."""
        return self.history.points_ttfa

    @property
    def points_cancel(self) -> int:
        return self.history.points_cancel

    # ---- the current request -----------------------------------------------------------------------
    def set_timeline(self, tl: Timeline | None, now_ms: float, request_id: str | None = None) -> None:
        """The current request's chunks up to `now_ms` (and, for `request_id`, its TTFA point once it plays)."""
        if tl is None:
            return
        if request_id is not None:
            self.history.set_live(request_id, tl.first_audio)
        if not self._due("timeline") and tl.end_ms is None:
            return
        idx = sorted(tl.synth)
        widths = []
        for i in idx:
            start, end = tl.synth[i]
            widths.append((now_ms if end is None else end) - start)  # still running: up to now
        self.synth_bars.setOpts(x0=[tl.synth[i][0] for i in idx], y=[i - 0.2 for i in idx], width=widths)
        pidx = sorted(tl.play)
        self.play_bars.setOpts(x0=[tl.play[i][0] for i in pidx], y=[i + 0.2 for i in pidx],
                               width=[tl.play[i][1] - tl.play[i][0] for i in pidx])
        marks = (tl.t0_ns, len(tl.underruns), len(tl.text_ms), len(tl.starved), max(pidx or [0]))
        if marks != self._marks:  # scatter items are costly to refill: only when a mark came
            self._marks = marks
            self.under_marks.setData(tl.underruns, [max(pidx or [0]) + 0.5] * len(tl.underruns))
            self.text_marks.setData(tl.text_ms, [-0.55] * len(tl.text_ms))
            self.starve_marks.setData(tl.starved, [max(pidx or [0]) + 0.5] * len(tl.starved))
        if tl.cancel_ms is not None:
            self.cancel_line.setValue(tl.cancel_ms)
            self.cancel_line.show()
        else:
            self.cancel_line.hide()
        if tl.speech_ms is not None:
            self.speech_line.setValue(tl.speech_ms)
            self.speech_line.show()
        else:
            self.speech_line.hide()
        end = tl.end_ms if tl.end_ms is not None else now_ms
        self.now_line.setValue(min(now_ms, end))
        right = max([end] + [b for _, b in tl.play.values()])
        top = max(idx + pidx + [0])
        # The axes change in steps (half a second, whole chunks), not every tick: each change makes pyqtgraph
        # regenerate and repaint its axes, which was a third of the window's CPU while speaking.
        view = (max(500.0, math.ceil(right * 1.02 / 500) * 500), top)
        if view != self._chunk_view:
            self._chunk_view = view
            self.chunks.setXRange(0, view[0], padding=0)
            self.chunks.setYRange(-0.7, top + 0.7, padding=0)
            self._label_chunks()

    def _label_chunks(self) -> None:
        """Every Nth chunk on the y axis, N as small as leaves a label's height between two labels at the
        plot's height now (at 50 chunks one per chunk piled up into an unreadable block)."""
        if self._chunk_view is None:
            return
        top = self._chunk_view[1]
        axis = self.chunks.getPlotItem().getAxis("left")
        label_px = QtGui.QFontMetrics(axis.style.get("tickFont") or axis.font()).height() + 2
        self.chunks.getPlotItem().getAxis("left").setTicks(
            [[(i, str(i)) for i in range(0, top + 1, chunk_step(top, self.chunks.getViewBox().height(), label_px))]])

    def shown(self) -> bool:
        """Anything of the graphs on screen (not behind the presenter view, not minimised)."""
        return self.isVisible() and not self.visibleRegion().isEmpty()

    def _due(self, what: str) -> bool:
        """Time to redraw `what` (SLOW_S since the last time, HELD_S while held), and the graphs are on screen."""
        now = time.monotonic()
        if now - self._drawn_at[what] < (HELD_S if self.held else SLOW_S) or not self.shown():
            return False
        self._drawn_at[what] = now
        return True

    def add_ring_level(self, t_s: float, queued_ms: float) -> None:
        """A sample of the ring's level; the plot moves at SLOW_S steps (its 10 s scroll needs no more)."""
        self._ring_t.append(t_s)
        self._ring_v.append(queued_ms)
        while self._ring_t[0] < t_s - RING_SECONDS - 1:  # only what the plot shows
            self._ring_t.popleft()
            self._ring_v.popleft()
        if not self._due("ring"):
            return
        top = max(500.0, math.ceil(max(self._ring_v) * 1.1 / 500) * 500)
        if top != self._ring_top:
            self._ring_top = top
            self.ring.setYRange(0, top, padding=0)
        self.ring_curve.setData(np.fromiter(self._ring_t, float) - t_s, np.fromiter(self._ring_v, float))

    def set_output(self, samples: np.ndarray, rate: int) -> None:
        """Waveform as a min/max envelope (one column per ~bin), and the RMS level of the last 50 ms."""
        n = len(samples)
        if n == 0:
            return
        if not self.shown() or (self.held and not self._due("wave")):
            return
        bins = WAVE_BINS
        per = max(1, n // bins)
        usable = (n // per) * per
        s = samples[n - usable:].reshape(-1, per)
        env = np.empty(2 * len(s), np.float32)
        env[0::2] = s.min(axis=1)
        env[1::2] = s.max(axis=1)
        t = np.repeat((np.arange(len(s)) * per - usable) * 1000 / rate, 2)
        self.wave_curve.setData(t, env)
        tail = samples[-max(1, rate // 20):]
        rms = float(np.sqrt(np.mean(np.square(tail, dtype=np.float64))))
        db = 20 * math.log10(rms) if rms > 1e-6 else -120.0
        self.level.setValue(int(max(-60, min(0, db))))
        self.level_label.setText("−∞" if db <= -119 else f"{db:.0f}")
