"""The window's streamed-text tab, offscreen with the real Piper engine on the JACK device: the editor's text fed
as a model would stream it, and a chat model's reply (a local fake OpenAI-compatible server) appearing in the
editor while it is spoken; Interrupt stops both and shows the words heard."""

from __future__ import annotations

import pytest
from PySide6 import QtCore

from voicetrace.contract import Play
from voicetrace.desk.core import DeskCore
from voicetrace.testing.fake_chat import REPLY, build_chat_app
from voicetrace.ui.window import MainWindow

pytestmark = [pytest.mark.audio, pytest.mark.models]

TEXT = "A simulated model writes this reply a token at a time. The window speaks it as it comes in."


@pytest.fixture()
def window(qtbot, jack, piper_source, kokoro_source, tmp_path):
    # both warm engines given: the window loads none of its own (one still warming at exit aborts the process)
    core = DeskCore(engines={"piper": piper_source, "kokoro": kokoro_source})
    w = MainWindow(core, QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat), "piper")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.speak_btn.isEnabled(), timeout=20_000)
    yield w
    w.close()


def test_simulated_stream_is_spoken_as_it_comes(window, qtbot):
    w = window
    w.editor.setPlainText(TEXT)
    w.stream_tab.sim_rate.setValue(30)
    qtbot.mouseClick(w.stream_tab.sim_btn, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=30_000)
    rec = w.core.records[-1]
    assert rec.outcome == "done" and rec.stream_input and rec.heard_text == " ".join(TEXT.split())
    assert rec.ttfa_from_first_text_ms is not None
    assert "first text → audible" in w.stream_tab.status.text()
    assert w.editor.toPlainText() == TEXT  # the editor's text stays as it was


def test_chat_reply_fills_the_editor_and_interrupt_stops_the_model(window, qtbot, serve_app):
    srv = serve_app(build_chat_app(tokens_per_s=15.0))
    w = window
    w.stream_tab.chat_url.setText(srv.http + "/v1")
    w.stream_tab.chat_model.setText("fake")
    w.stream_tab.chat_prompt.setText("Tell me about streaming speech.")
    qtbot.mouseClick(w.stream_tab.chat_btn, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(w.editor.toPlainText()) > 40, timeout=20_000)  # the reply as it streams
    assert REPLY.startswith(w.editor.toPlainText()[:40])
    req = w.core.current()
    qtbot.waitUntil(lambda: any(e.n for e in req.trace.of(Play)), timeout=20_000)
    qtbot.wait(1500)
    w.interrupt()
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=10_000)
    rec = w.core.records[-1]
    assert rec.outcome == "cancelled" and rec.stale_samples_after_cancel == 0
    heard = (rec.heard_text or "").split()
    assert heard and heard == REPLY.split()[:len(heard)]
    qtbot.waitUntil(lambda: "heard" in w.stream_tab.status.text(), timeout=5_000)
    typed = len(w.editor.toPlainText())
    qtbot.wait(600)
    assert len(w.editor.toPlainText()) == typed  # the model's request was closed: no more text arrives


def test_speak_clipboard_replaces_the_text_and_speaks_it(window, qtbot):
    from PySide6 import QtWidgets

    w = window
    QtWidgets.QApplication.clipboard().setText("Copied from somewhere else.")
    w.speak_clipboard()
    assert w.editor.toPlainText() == "Copied from somewhere else."
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=20_000)
    assert w.core.records[-1].outcome == "done"
    QtWidgets.QApplication.clipboard().setText("   ")
    w.speak_clipboard()
    assert "clipboard holds no text" in w.banner.text()
