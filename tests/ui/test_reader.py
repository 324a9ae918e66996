"""The window as a reader (issue 17), offscreen with the real engines on the JACK dummy device: pause and resume
(Space, Ctrl+Space, the button), a cancel while paused, skip to the next / previous sentence (Alt+→ / Alt+←),
start here (Ctrl+Shift+Enter, the context menu's signal), and Save speech to every format, read back."""

from __future__ import annotations

import pytest
import soundfile as sf
from PySide6 import QtCore, QtGui

from voicetrace.contract import PhrasePlanned, Play
from voicetrace.ui.window import MainWindow

pytestmark = [pytest.mark.audio, pytest.mark.models]

SENTENCES = ["The first sentence is about the weather today.", "The second one talks about a long walk.",
             "A third sentence mentions the river and the hills.", "The fourth and last one says goodbye."]
TEXT = " ".join(SENTENCES)
ALT, CTRL, SHIFT = (QtCore.Qt.KeyboardModifier.AltModifier, QtCore.Qt.KeyboardModifier.ControlModifier,
                    QtCore.Qt.KeyboardModifier.ShiftModifier)


@pytest.fixture()
def window(window_with, kokoro_source, piper_source):
    return window_with({"kokoro": kokoro_source, "piper": piper_source}, TEXT)


def _heard(w: MainWindow) -> bool:
    req = w.core.current()
    return req is not None and not req.finished.is_set() and any(
        isinstance(e, Play) and e.n > 0 for e in req.trace.events)


def _first_phrase(w: MainWindow, qtbot) -> str:
    """The first phrase of the request the window spoke last."""
    assert w.editor.reader.spoken is not None and w.core.session is not None
    req = w.core.session.request(w.editor.reader.spoken.request_id)
    qtbot.waitUntil(lambda: bool(req.trace.of(PhrasePlanned)), timeout=5_000)
    return str(req.trace.of(PhrasePlanned)[0].text)


def test_space_pauses_and_resumes_and_the_record_counts_the_pause_apart(window, qtbot):
    w = window
    w.speak()
    qtbot.waitUntil(lambda: _heard(w), timeout=10_000)
    assert w.pause_btn.hasFocus() and w.pause_btn.isEnabled()
    qtbot.keyClick(w.pause_btn, QtCore.Qt.Key.Key_Space)
    assert w.core.paused and "Resume" in w.pause_btn.text()
    qtbot.wait(800)
    qtbot.waitUntil(lambda: "paused" in w.progress.text(), timeout=2_000)
    assert w.idle or w.timer.interval() > 0  # held: it may go idle (nothing moves)
    qtbot.keyClick(w.editor, QtCore.Qt.Key.Key_Space, CTRL)  # Ctrl+Space works in the editor too
    assert not w.core.paused and "Pause" in w.pause_btn.text()
    assert w.editor.toPlainText() == TEXT  # the keys did not type
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=30_000)
    rec = w.core.records[-1]
    assert rec.outcome == "done" and rec.underruns == 0 and rec.pauses == 1 and rec.paused_ms >= 700
    assert rec.heard_text is not None and rec.heard_text.split() == TEXT.split()  # nothing lost
    headers = [w.table.horizontalHeaderItem(c).text() for c in range(w.table.columnCount())]
    assert float(w.table.item(0, headers.index("paused ms")).text()) >= 700


def test_interrupt_while_paused_leaves_no_stale_sample_and_speak_plays_again(window, qtbot):
    w = window
    w.speak()
    qtbot.waitUntil(lambda: _heard(w), timeout=10_000)
    qtbot.mouseClick(w.pause_btn, QtCore.Qt.MouseButton.LeftButton)
    assert w.core.paused
    qtbot.wait(300)
    qtbot.keyClick(w.editor, QtCore.Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=10_000)
    rec = w.core.records[-1]
    assert rec.outcome == "cancelled" and rec.stale_samples_after_cancel == 0 and rec.paused_ms > 0
    assert not w.core.paused and "Pause" in w.pause_btn.text()
    w.speak()
    qtbot.waitUntil(lambda: w.table.rowCount() == 2, timeout=30_000)
    assert w.core.records[-1].outcome == "done" and w.core.records[-1].ttfa_audible_ms is not None


def test_alt_arrows_skip_to_the_next_and_previous_sentence(window, qtbot):
    w = window
    starts = [TEXT.index(s) for s in SENTENCES]
    w.speak()
    qtbot.waitUntil(lambda: _heard(w) and w.editor.highlighted is not None, timeout=10_000)
    first = w.core.current()
    qtbot.keyClick(w.editor, QtCore.Qt.Key.Key_Right, ALT)  # sentence 1 → 2
    assert first.stop.is_set()  # cancelled through the normal path
    assert w.editor.reader.spoken is not None and w.editor.reader.spoken.offset == starts[1]
    assert SENTENCES[1].startswith(_first_phrase(w, qtbot))
    qtbot.waitUntil(lambda: _heard(w) and w.editor.highlighted is not None
                    and w.editor.reader.highlight[0] >= starts[1], timeout=10_000)
    qtbot.keyClick(w.editor, QtCore.Qt.Key.Key_Right, ALT)  # 2 → 3
    assert w.editor.reader.spoken.offset == starts[2]
    qtbot.waitUntil(lambda: _heard(w) and w.editor.highlighted is not None
                    and w.editor.reader.highlight[0] >= starts[2], timeout=10_000)
    qtbot.keyClick(w.editor, QtCore.Qt.Key.Key_Left, ALT)  # 3 → 2
    assert w.editor.reader.spoken.offset == starts[1] and SENTENCES[1].startswith(_first_phrase(w, qtbot))
    qtbot.waitUntil(lambda: w.table.rowCount() == 3, timeout=10_000)
    cancelled = [r for r in w.core.records if r.outcome == "cancelled"]
    assert len(cancelled) == 3 and all(r.stale_samples_after_cancel == 0 for r in cancelled)
    w.interrupt()


def test_start_here_speaks_from_the_sentence_under_the_cursor(window, qtbot):
    w = window
    cur = w.editor.textCursor()
    cur.setPosition(TEXT.index("river"))  # inside the third sentence
    w.editor.setTextCursor(cur)
    w.editor.setFocus()
    qtbot.keyClick(w.editor, QtCore.Qt.Key.Key_Return, CTRL | SHIFT)
    assert w.editor.reader.spoken is not None and w.editor.reader.spoken.offset == TEXT.index(SENTENCES[2])
    assert SENTENCES[2].startswith(_first_phrase(w, qtbot))
    qtbot.waitUntil(lambda: _heard(w) and w.editor.highlighted is not None, timeout=10_000)
    assert w.editor.reader.highlight[0] >= TEXT.index(SENTENCES[2])  # the highlight follows
    w.editor.speak_from.emit(TEXT.index("goodbye"))  # what the context menu's entry sends
    assert w.editor.reader.spoken.offset == TEXT.index(SENTENCES[3])
    qtbot.waitUntil(lambda: w.table.rowCount() == 2, timeout=30_000)
    assert w.core.records[-1].outcome == "done"
    assert w.core.records[-1].heard_text.split() == SENTENCES[3].split()


def test_save_speech_writes_every_format_and_cancel_leaves_no_file(window, qtbot, tmp_path):
    w = window
    w.editor.setPlainText(SENTENCES[0])
    w.speak()
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=30_000)
    rec = w.core.records[-1]
    spoken_s = sum(c.samples for c in rec.chunks) / rec.device_rate
    lengths: dict[str, float] = {}
    for ext in ("wav", "flac", "ogg", "opus", "mp3"):
        path = tmp_path / f"speech.{ext}"
        w.save_speech(str(path))
        assert w.save_status.bar.isVisible()
        qtbot.waitUntil(lambda: not w.save_status.bar.isVisible(), timeout=30_000)
        assert "saved" in w.statusBar().currentMessage(), (ext, w.statusBar().currentMessage())
        with sf.SoundFile(str(path)) as f:
            seconds = f.frames / f.samplerate
        lengths[ext] = seconds
        # the file is a synthesis of its own (a file sink: Kokoro's pieces planned without a listener), so its
        # leading and trailing silences may be trimmed differently from what played (a clean run: 2.33 s saved
        # against 2.48 s played): the whole speech, not the same samples
        assert abs(seconds - spoken_s) < 0.3, (ext, seconds, spoken_s)  # not a timing: audio lengths
        assert abs(seconds - lengths["wav"]) < 0.08, (ext, lengths)  # not a timing: every format, the same audio
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no partial files

    # a long text saved in the background, cancelled halfway: the window stays usable, no file is left
    w.editor.setPlainText(" ".join([TEXT] * 12))
    path = tmp_path / "long.flac"
    w.save_speech(str(path))
    qtbot.waitUntil(lambda: w.save_status.bar.value() > 0, timeout=30_000)
    w.editor.setPlainText("Still speaking while it saves.")
    w.speak()  # the window works meanwhile
    qtbot.mouseClick(w.save_status.cancel_btn, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.save_status.bar.isVisible(), timeout=10_000)
    assert not path.exists() and not [p for p in tmp_path.iterdir() if ".part" in p.name]
    assert "not written" in w.statusBar().currentMessage()
    qtbot.waitUntil(lambda: w.table.rowCount() == 2, timeout=30_000)
    assert w.core.records[-1].outcome == "done"

    # kept on request: what was made so far
    w.editor.setPlainText(" ".join([TEXT] * 12))
    w.save_speech(str(path))
    qtbot.waitUntil(lambda: w.save_status.bar.value() > 0, timeout=30_000)
    w.save_status.cancel(keep=True)
    qtbot.waitUntil(lambda: not w.save_status.bar.isVisible(), timeout=10_000)
    with sf.SoundFile(str(path)) as f:
        assert f.frames > 0


def test_ctrl_s_opens_the_save_dialog(window, qtbot, monkeypatch, tmp_path):
    from PySide6 import QtWidgets

    chosen = str(tmp_path / "named")
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (chosen, "FLAC (*.flac)"))
    w = window
    w.editor.setPlainText(SENTENCES[3])
    action = next(a for a in w.menuBar().actions()[0].menu().actions() if a.text() == "&Save speech as…")
    assert action.shortcut() == QtGui.QKeySequence(QtGui.QKeySequence.StandardKey.Save)
    action.trigger()
    qtbot.waitUntil(lambda: not w.save_status.bar.isVisible() and (tmp_path / "named.flac").exists(), timeout=30_000)


def test_f11_presenter_view_shows_the_last_figures_large_and_keeps_the_keys(window, qtbot):
    w = window
    qtbot.keyClick(w.editor, QtCore.Qt.Key.Key_F11)
    assert w.presenting and w.presenter.isVisible() and not w.editor.isVisible()
    assert w.presenter_action.isChecked()
    w.editor.setPlainText(TEXT)
    qtbot.keyClick(w, QtCore.Qt.Key.Key_Return, CTRL)  # Speak from the keyboard, the editor hidden
    qtbot.waitUntil(lambda: _heard(w), timeout=10_000)
    qtbot.keyClick(w, QtCore.Qt.Key.Key_Escape)  # Interrupt
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=10_000)
    rec = w.core.records[-1]
    assert rec.outcome == "cancelled"
    qtbot.waitUntil(lambda: w.presenter.silence.text() != "—", timeout=2_000)
    assert w.presenter.ttfa.text() == f"{rec.ttfa_audible_ms:.0f} ms"
    assert w.presenter.silence.text() == f"{rec.cancel_to_silence_ms:.0f} ms"
    assert w.presenter.stale.text() == "0" and w.presenter.history.points_cancel == 1
    assert w.presenter.ttfa.font().pointSize() >= 40 or "44pt" in w.presenter.ttfa.styleSheet()
    qtbot.keyClick(w, QtCore.Qt.Key.Key_F11)
    assert not w.presenting and w.editor.isVisible()
