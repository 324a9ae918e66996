"""The window fits a 1280×720 screen (issue 17): at the size a window manager leaves on it, every control of
every tab is on screen and not clipped, no graph legend covers its plot's data, the titles fit, and the layout
is remembered per screen size. (The real window under Xvfb and a window manager: test_desktop.py.)"""

from __future__ import annotations

import pytest
from PySide6 import QtCore, QtWidgets

from voicetrace.desk.core import DeskCore
from voicetrace.testing.fakes import fake_source
from voicetrace.ui.graphs import legend_of
from voicetrace.ui.window import MainWindow

pytestmark = [pytest.mark.audio]

CONTROLS = (QtWidgets.QAbstractButton, QtWidgets.QComboBox, QtWidgets.QAbstractSpinBox, QtWidgets.QLineEdit,
            QtWidgets.QSlider)


@pytest.fixture()
def make_window(qtbot, jack, tmp_path):
    made = []

    def make(settings: str = "s.ini") -> MainWindow:
        core = DeskCore(engines={"piper": fake_source(), "kokoro": fake_source()}, metrics_log=None)
        w = MainWindow(core, QtCore.QSettings(str(tmp_path / settings), QtCore.QSettings.Format.IniFormat),
                       "piper")
        qtbot.addWidget(w)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


def _clipped(w: MainWindow) -> list[str]:
    out = []
    for c in w.findChildren(QtWidgets.QWidget):
        if not isinstance(c, CONTROLS) or not c.isVisible() or c.window() is not w:
            continue
        if isinstance(c, QtWidgets.QToolButton) and c.parent() is w.statusBar():
            continue
        rect = QtCore.QRect(c.mapTo(w, QtCore.QPoint(0, 0)), c.size())
        seen = c.visibleRegion().boundingRect()
        if not w.rect().contains(rect) or seen.width() < 0.9 * c.width() or seen.height() < 0.9 * c.height():
            out.append(f"{type(c).__name__} {c.objectName() or getattr(c, 'text', lambda: '')()!r} at {rect}")
    return out


def test_every_control_of_every_tab_is_reachable_at_1280x720(make_window, qtbot):
    w = make_window()
    w.resize(1280, 690)  # 1280×720 less a window manager's title bar
    w.show()
    qtbot.waitUntil(lambda: w.speak_btn.isEnabled(), timeout=10_000)
    assert w.minimumSizeHint().width() <= 1280 and w.minimumSizeHint().height() <= 690
    for i in range(w.tabs.count()):
        w.tabs.setCurrentIndex(i)
        qtbot.wait(50)
        assert _clipped(w) == [], w.tabs.tabText(i)
        bar = w.tabs.tabBar()
        assert w.rect().contains(QtCore.QRect(bar.mapTo(w, bar.tabRect(i).topLeft()), bar.tabRect(i).size()))
    for plot in (w.graphs.ttfa, w.graphs.cancel, w.graphs.chunks):
        legend = legend_of(plot)
        assert legend is not None and legend.items  # each has its legend...
        view = plot.getPlotItem().getViewBox().sceneBoundingRect()
        overlap = legend.sceneBoundingRect().intersected(view)
        assert overlap.width() < 1 or overlap.height() < 1, (plot, overlap)  # ...outside the data (touching)
        # ...and inside its widget: a plot whose layout needs more than the widget has is cut off at its edge
        need = plot.getPlotItem().effectiveSizeHint(QtCore.Qt.SizeHint.MinimumSize)
        assert need.width() <= plot.width() + 1 and need.height() <= plot.height() + 1, (need, plot.size())
        assert legend.sceneBoundingRect().right() <= plot.width() + 1
    for plot in (w.graphs.ttfa, w.graphs.cancel, w.graphs.chunks, w.graphs.ring, w.graphs.wave):
        title = plot.getPlotItem().titleLabel
        assert title.item.boundingRect().width() <= plot.width(), title.text


def test_the_layout_is_remembered_per_screen_size(make_window, qtbot, monkeypatch):
    w = make_window("per-screen.ini")
    w.show()
    w.resize(1100, 650)
    w.top_split.setSizes([300, 800])
    qtbot.wait(50)
    saved = bytes(w.top_split.saveState())
    w.close()
    # the same screen: as it was left (the offscreen screen clamps the window's size, so the splitter's state
    # is compared as restored, before a resize rescales it)
    again = make_window("per-screen.ini")
    assert again.geometry_restored and bytes(again.top_split.saveState()) == saved
    monkeypatch.setattr(MainWindow, "layout_key", lambda self: "layout/1920x1080")
    other = make_window("per-screen.ini")
    assert not other.geometry_restored  # another screen size: its own first layout
