"""The desktop window, offscreen, with the real engines playing to the JACK dummy device: Speak, first audio,
Interrupt, the graphs and table, demo mode, errors, settings, metrics log and exports."""

from __future__ import annotations

import itertools
import json
import shutil

import pytest
from PySide6 import QtCore

from voicetrace.contract import ChunkReady, Play, SynthEnd, SynthStart
from voicetrace.core.report import COLUMNS
from voicetrace.desk.core import DeskCore
from voicetrace.ui.window import MainWindow

pytestmark = [pytest.mark.audio, pytest.mark.models]

PARAGRAPH = ("The quick brown fox jumps over the lazy dog, and then it runs far away into the green forest. "
             "Nobody saw where it went, but everyone heard the story the next morning at breakfast. "
             "It was told again and again, each time a little longer than before.")


@pytest.fixture()
def window_factory(qtbot, jack, kokoro_source, piper_source, tmp_path):
    made: list[MainWindow] = []

    def make(settings_name: str = "settings.ini", **core_kw) -> MainWindow:
        core = DeskCore(engines={"kokoro": kokoro_source, "piper": piper_source}, **core_kw)
        w = MainWindow(core, QtCore.QSettings(str(tmp_path / settings_name), QtCore.QSettings.Format.IniFormat))
        qtbot.addWidget(w)
        w.show()
        qtbot.waitUntil(lambda: w.speak_btn.isEnabled(), timeout=20_000)
        made.append(w)
        return w

    yield make
    for w in made:
        if w.isVisible():
            w.close()


def _select_engine(w: MainWindow, engine: str) -> None:
    w.engines.box.setCurrentIndex(w.engines.box.findData(engine))


def _speak_until_done(w: MainWindow, qtbot, text: str, rows: int) -> None:
    """Speak `text` and wait until it is the table's `rows`-th request, finished in full: the app still works."""
    w.editor.setPlainText(text)
    w.speak()
    qtbot.waitUntil(lambda: w.table.rowCount() == rows, timeout=10_000)
    assert w.core.records[-1].outcome == "done"


def _first_audio(w: MainWindow) -> bool:
    req = w.core.current()
    return req is not None and any(isinstance(e, Play) and e.n > 0 for e in req.trace.events)


def test_speak_then_interrupt_shows_ttfa_and_cancel_latencies(window_factory, qtbot):
    w = window_factory(metrics_log=None)
    _select_engine(w, "kokoro")
    w.editor.setPlainText(PARAGRAPH)
    highlighted: set[str] = set()
    w.timer.timeout.connect(lambda: highlighted.add(w.editor.highlighted or ""))
    qtbot.mouseClick(w.speak_btn, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _first_audio(w), timeout=15_000)
    qtbot.waitUntil(lambda: len(w.core.current().trace.of(ChunkReady)) >= 3, timeout=15_000)
    qtbot.wait(300)
    assert w.pause_btn.hasFocus()  # out of the editor: Space pauses (tests/ui/test_reader.py)
    qtbot.mouseClick(w.interrupt_btn, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=10_000)
    rec = w.core.records[-1]
    assert rec.outcome == "cancelled"
    assert rec.ttfa_callback_ms is not None and rec.ttfa_audible_ms is not None
    assert rec.cancel_to_silence_ms is not None and rec.cancel_to_idle_ms is not None
    assert rec.stale_samples_after_cancel == 0
    assert w.graphs.points_ttfa == 1 and w.graphs.points_cancel == 1
    assert "cancel→silence" in w.readout.text()
    headers = [w.table.horizontalHeaderItem(c).text() for c in range(w.table.columnCount())]
    assert headers == [h for h, _ in COLUMNS]
    assert w.table.item(0, headers.index("outcome")).text() == "cancelled"
    # The phrase being heard was highlighted, and it was a piece of the text.
    heard = {h for h in highlighted if h}
    assert heard and all(h in PARAGRAPH for h in heard)


def test_kokoro_highlights_the_word_being_heard_and_the_switch_picks_phrase_at_a_time(window_factory, qtbot,
                                                                                    kokoro_source):
    w = window_factory("kokoro-mode.ini", metrics_log=None)
    _select_engine(w, "kokoro")
    assert w.engines.kokoro_stream.isChecked() and kokoro_source.stream_phrase
    text = "Before the meeting starts, please read the notes I sent you yesterday."
    w.editor.setPlainText(text)
    highlighted: list[tuple[str, int]] = []
    w.timer.timeout.connect(lambda: w.editor.highlighted
                            and highlighted.append((w.editor.highlighted, w.editor.reader.highlight[0])))
    try:
        w.speak()
        qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=30_000)
        # word by word: single words of the text, moving forward through it (Kokoro times its words)
        assert highlighted and all(" " not in h and h in text.split() for h, _ in highlighted), highlighted
        starts = [a for _, a in highlighted]
        assert starts == sorted(starts) and len(set(starts)) >= 4
        req = w.core.records[-1]
        assert req.outcome == "done" and len(req.chunks) > 2  # the first phrase came in pieces
        w.engines.kokoro_stream.setChecked(False)  # phrase at a time, from the next request on
        assert not kokoro_source.stream_phrase
        w.speak()
        qtbot.waitUntil(lambda: w.table.rowCount() == 2, timeout=30_000)
        rec = w.core.records[-1]
        assert rec.outcome == "done" and rec.first_phrase_text == "Before the meeting"  # today's short first phrase
        w.close()
        again = window_factory("kokoro-mode.ini", metrics_log=None)
        assert not again.engines.kokoro_stream.isChecked()  # kept between runs
    finally:
        w.core.set_kokoro_stream(True)  # the engine is shared with the other tests


def test_escape_interrupts_and_ctrl_enter_speaks(window_factory, qtbot):
    w = window_factory()
    _select_engine(w, "piper")
    w.editor.setPlainText(PARAGRAPH)
    w.editor.setFocus()
    qtbot.keyClick(w.editor, QtCore.Qt.Key.Key_Return, QtCore.Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: _first_audio(w), timeout=10_000)
    qtbot.keyClick(w.editor, QtCore.Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=10_000)
    assert w.core.records[-1].outcome == "cancelled"
    assert w.core.records[-1].engine == "piper"
    assert w.editor.toPlainText() == PARAGRAPH  # the keys did not type into the text


def test_event_loop_keeps_ticking_while_kokoro_synthesises(window_factory, qtbot):
    w = window_factory()
    _select_engine(w, "kokoro")
    # Its own opening: a phrase-cache hit from an earlier test would make the syntheses too short to probe.
    w.editor.setPlainText("Meanwhile, a separate sentence starts this one. " + PARAGRAPH)
    ticks: list[int] = []
    probe = QtCore.QTimer()
    probe.setInterval(5)
    probe.timeout.connect(lambda: ticks.append(QtCore.QDateTime.currentMSecsSinceEpoch()))
    probe.start()
    w.speak()
    req = w.core.current()
    qtbot.waitUntil(lambda: len(req.trace.of(SynthEnd)) >= 4, timeout=30_000)
    probe.stop()
    w.interrupt()
    qtbot.waitUntil(lambda: req.finished.is_set(), timeout=10_000)
    starts = {e.index: e.t_ns for e in req.trace.of(SynthStart)}
    longest_synth_ms = max((e.t_ns - starts[e.index]) / 1e6 for e in req.trace.of(SynthEnd))
    max_gap_ms = max(b - a for a, b in itertools.pairwise(ticks))
    print(f"max event-loop gap {max_gap_ms} ms, longest synthesis {longest_synth_ms:.0f} ms")
    # Ratio within one run (not a timing): a synthesis on the Qt thread would stall the loop for all of it.
    assert max_gap_ms < 0.5 * longest_synth_ms, (max_gap_ms, longest_synth_ms)  # not a timing: a ratio
    assert len(ticks) > 20


def test_barge_in_demo_of_five_rounds_completes_with_no_stale_audio(window_factory, qtbot):
    w = window_factory()
    _select_engine(w, "piper")
    w.demo_tab.rounds.setValue(5)
    w.demo_tab.min_s.setValue(0.4)
    w.demo_tab.max_s.setValue(1.2)
    w.toggle_demo()
    assert not w.speak_btn.isEnabled() or w.demo_tab.demo is not None
    qtbot.waitUntil(lambda: w.demo_tab.demo is not None and w.demo_tab.demo.finished.is_set(), timeout=60_000)
    qtbot.wait(100)
    r = w.demo_tab.demo.result
    assert w.demo_tab.demo.error is None and r is not None
    assert r.rounds == 5 and r.interrupted == 5
    assert r.cancel_to_silence["n"] == 5 and r.cancel_to_idle["n"] == 5
    assert r.cancel_to_silence["median"] <= r.cancel_to_silence["p95"] <= r.cancel_to_silence["max"]
    assert r.stale_samples == 0
    assert "5 of 5 rounds interrupted" in w.demo_tab.status.text()
    assert "0 ✓" in w.demo_tab.status.text()
    assert w.graphs.points_cancel == 5


def test_metrics_log_exports_and_report(window_factory, qtbot, tmp_path):
    log = tmp_path / "metrics.jsonl"
    w = window_factory(metrics_log=log)
    _select_engine(w, "piper")
    w.editor.setPlainText("Short and sweet.")
    w.speak()
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=10_000)
    w.editor.setPlainText("And a second one.")
    w.speak()
    qtbot.waitUntil(lambda: w.table.rowCount() == 2, timeout=10_000)
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [r["outcome"] for r in lines] == ["done", "done"]
    # The same fields as `voicetrace speak --json`.
    for key in ("ttfa_callback_ms", "ttfa_audible_ms", "ttfa_voiced_ms", "rtf", "chunks", "underruns",
                "cancel_to_silence_ms", "cancel_to_idle_ms", "stale_samples_after_cancel", "cache",
                "engine_load_ms", "warmup_ms", "peak_rss_mb", "device", "device_rate", "output_latency_ms",
                "dac_time_estimated", "skipped_phrases", "cold"):
        assert key in lines[0]
    w.export_metrics(str(tmp_path / "m.csv"), "csv")
    w.export_metrics(str(tmp_path / "m.json"), "json")
    csv_lines = (tmp_path / "m.csv").read_text().splitlines()
    assert len(csv_lines) == 3 and csv_lines[0].startswith("request,engine")
    assert len(json.loads((tmp_path / "m.json").read_text())) == 2
    report = w.copy_report()
    assert "| piper | 2 |" in report
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == report


def test_text_errors_are_shown_and_nothing_is_lost(window_factory, qtbot, tmp_path):
    w = window_factory()
    _select_engine(w, "piper")
    too_long = "word " * 20_001
    w.editor.setPlainText(too_long)
    assert "too long" in w.editor.counter.text()
    w.speak()
    assert w.banner.isVisible() and "over the maximum" in w.banner.text()
    assert w.editor.toPlainText() == too_long  # the text stays for the user to cut down
    w.editor.setPlainText("?!… ---")
    w.speak()
    assert "no letters or digits" in w.banner.text()
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02binary")
    w.open_file(str(binary))
    assert "binary file" in w.banner.text()
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café".encode("latin-1"))
    w.open_file(str(latin))
    assert "not UTF-8" in w.banner.text()
    good = tmp_path / "good.md"
    good.write_text("Hello from a file.", encoding="utf-8")
    w.open_file(str(good))
    assert w.editor.toPlainText() == "Hello from a file."
    w.speak()  # and the app still speaks
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=10_000)
    assert w.core.records[-1].outcome == "done"


def test_corrupt_model_shows_error_and_other_engine_keeps_working(window_factory, qtbot, tmp_path, monkeypatch):
    from voicetrace.engines.catalog import find_model

    joe = find_model("piper")
    (tmp_path / "en_US-broken-medium.onnx").write_bytes(b"this is not an onnx model")
    shutil.copy(joe.path("config"), tmp_path / "en_US-broken-medium.onnx.json")
    monkeypatch.setenv("VOICETRACE_MODELS_DIR", str(tmp_path))
    w = window_factory()
    _select_engine(w, "piper:en_US-broken-medium")
    qtbot.waitUntil(lambda: w.core.engine_status("piper:en_US-broken-medium").state == "error", timeout=20_000)
    qtbot.waitUntil(lambda: "failed to load" in w.banner.text(), timeout=2_000)
    assert "cannot be loaded" in w.banner.text()
    assert not w.speak_btn.isEnabled()
    _select_engine(w, "piper")
    qtbot.waitUntil(lambda: w.speak_btn.isEnabled(), timeout=5_000)
    _speak_until_done(w, qtbot, "Still speaking.", rows=1)


def test_lost_device_fails_the_request_with_a_message_and_refresh_recovers(window_factory, qtbot):
    w = window_factory()
    _select_engine(w, "piper")
    w.editor.setPlainText(PARAGRAPH)
    w.speak()
    qtbot.waitUntil(lambda: _first_audio(w), timeout=10_000)
    w.core.player._stream.stop()  # the device stops calling back, as when it is unplugged
    qtbot.waitUntil(lambda: "stopped playing" in w.banner.text(), timeout=5_000)
    assert not w.speak_btn.isEnabled()
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=5_000)
    assert w.core.records[-1].outcome == "failed"
    assert "stopped playing" in w.core.records[-1].error
    w.outputs.refresh()
    qtbot.waitUntil(lambda: w.speak_btn.isEnabled(), timeout=10_000)
    _speak_until_done(w, qtbot, "Back again.", rows=2)


def test_settings_persist_between_runs(window_factory, qtbot):
    w = window_factory("persist.ini")
    _select_engine(w, "piper")
    w.engines.speed_box.setValue(1.3)
    w.outputs.volume.setValue(40)
    w.editor.setPlainText("Remember me.")
    w.close()
    w2 = window_factory("persist.ini")
    assert w2.engines.engine_id == "piper"
    assert w2.engines.speed_box.value() == pytest.approx(1.3)
    assert w2.outputs.volume.value() == 40
    assert w2.editor.toPlainText() == "Remember me."
    assert w2.geometry_restored  # (the offscreen screen clamps sizes, so the size itself is not compared)
    assert w2.core.player is not None
    qtbot.waitUntil(lambda: w2.core.player.volume == pytest.approx(0.4), timeout=5_000)


def test_switching_device_while_speaking_ends_the_request_and_keeps_working(window_factory, qtbot):
    w = window_factory()
    _select_engine(w, "piper")
    w.editor.setPlainText(PARAGRAPH)
    w.speak()
    qtbot.waitUntil(lambda: _first_audio(w), timeout=10_000)
    old = w.core.current()
    w.core.open_device(None)  # what picking another output does (on its helper thread)
    assert old.finished.wait(5)
    assert w.core.interrupt() == []  # nothing left running on either device
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=5_000)
    assert w.core.records[-1].outcome in ("cancelled", "failed")
    assert w.core.records[-1].stale_samples_after_cancel == 0
    _speak_until_done(w, qtbot, "On the new device.", rows=2)


def test_remote_engine_in_the_window_speaks_and_is_interrupted(window_factory, qtbot, server):
    w = window_factory()
    _select_engine(w, "remote")
    assert w.engines.remote_row.isVisible()
    w.engines.remote_url.setText(server.ws)
    qtbot.mouseClick(w.engines.remote_btn, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.speak_btn.isEnabled() and w.engines.voice_box.count() > 0, timeout=10_000)
    w.engines.voice_box.setEditText("jm_kumo")
    w.editor.setPlainText(PARAGRAPH)
    w.speak()
    qtbot.waitUntil(lambda: _first_audio(w), timeout=15_000)
    qtbot.keyClick(w.editor, QtCore.Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=10_000)
    rec = w.core.records[-1]
    assert rec.engine == "remote" and rec.outcome == "cancelled" and rec.stale_samples_after_cancel == 0
    assert rec.server_ttfa_ms is not None and rec.network_ms is not None
    assert w.graphs.points_ttfa == 1 and w.graphs.points_cancel == 1
    assert w.settings.value("remote/url") == server.ws


def test_remote_server_that_is_not_there_is_explained_and_the_app_goes_on(window_factory, qtbot):
    w = window_factory()
    _select_engine(w, "remote")
    w.engines.remote_url.setText("ws://127.0.0.1:9")
    w.engines.connect_remote()
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=10_000)
    assert "cannot reach the remote server" in w.banner.text() and "voicetrace serve" in w.banner.text()
    assert not w.speak_btn.isEnabled()
    w.engines.remote_url.setText("ftp://nope")
    w.engines.connect_remote()
    assert "must start with ws://" in w.banner.text()
    _select_engine(w, "piper")
    qtbot.waitUntil(lambda: w.speak_btn.isEnabled(), timeout=5_000)
    _speak_until_done(w, qtbot, "Local speech still works.", rows=1)


def test_bad_input_corpus_in_the_window(window_factory, qtbot):
    """The corpus's text and voice cases typed into the window (the speed box cannot hold a bad speed): each is
    spoken or explained in the banner, and the window goes on."""
    from corpus.bad_input import CASES

    w = window_factory()
    _select_engine(w, "piper")
    problems = []
    for case in [c for c in CASES if c.speed == 1.0]:
        w.clear_error()
        w.editor.setPlainText(case.text)
        w.engines.voice_box.setEditText(case.voice or "joe")
        rows = w.table.rowCount()
        w.speak()
        if case.expect == "error":
            try:
                qtbot.waitUntil(lambda r=rows: w.banner.isVisible() or w.table.rowCount() > r, timeout=10_000)
            except Exception:
                problems.append(f"{case.name}: nothing happened")
                continue
            if w.table.rowCount() > rows and w.core.records[-1].outcome != "failed":
                problems.append(f"{case.name}: {w.core.records[-1].outcome}")
            elif w.table.rowCount() == rows and case.needle.lower() not in w.banner.text().lower():
                problems.append(f"{case.name}: banner {w.banner.text()!r}")
            continue
        qtbot.waitUntil(lambda r=rows: _first_audio(w) or w.table.rowCount() > r, timeout=30_000)
        w.interrupt()
        qtbot.waitUntil(lambda r=rows: w.table.rowCount() > r, timeout=10_000)
        rec = w.core.records[-1]
        if rec.outcome not in ("cancelled", "done") or rec.stale_samples_after_cancel:
            problems.append(f"{case.name}: {rec.outcome} {rec.error!r}")
    assert problems == []
    w.engines.voice_box.setEditText("joe")
    _speak_until_done(w, qtbot, "The window goes on.", rows=w.table.rowCount() + 1)


def test_voice_barge_in_from_the_window_stops_it_and_shows_the_latency(window_factory, qtbot, kokoro_source):
    """Tick "Barge-in by voice" (speakers mode: the microphone also hears the app), speak, then a user's voice
    comes into the microphone: it stops, and the readout and cancel graph show speech onset → silence."""
    import numpy as np

    from voicetrace.testing.inject import Injector

    w = window_factory()
    assert not w.voice_row.toggle.isChecked()  # off by default
    _select_engine(w, "piper")
    w.voice_row.toggle.setChecked(True)
    qtbot.waitUntil(lambda: w.voice_row.state.text().startswith("listening"), timeout=10_000)
    assert "AEC3" in w.voice_row.state.text()  # (learning the room until it has heard the app for 2.5 s)
    kokoro_source.engine.clear_cancel()  # idle between tests; an earlier test's cancel may still be pending
    user = kokoro_source.engine.synthesize("Stop, stop, please stop talking.", "jf_alpha", 1.0,
                                           use_cache=False).audio.astype(np.float32)
    with Injector(echo_gain=0.5) as injector:
        w.editor.setPlainText(PARAGRAPH)
        w.speak()
        qtbot.waitUntil(lambda: _first_audio(w), timeout=10_000)
        injector.play(user, 3.0)  # AEC3 listens once it has adapted on 2.5 s of the app's voice
        qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=15_000)
    rec = w.core.records[-1]
    assert rec.outcome == "cancelled" and rec.barge_in.trigger_ms is not None
    assert "voice barge-in (aec3): you spoke → silence" in w.readout.text()
    assert len(w.graphs.history.c_voice.getData()[1]) == 1
    qtbot.waitUntil(lambda: w.graphs.speech_line.isVisible(), timeout=2_000)  # "you spoke" on the timeline
    assert w.graphs.speech_line.value() < w.graphs.cancel_line.value()
    w.voice_row.toggle.setChecked(False)
    qtbot.waitUntil(lambda: w.core.voice is None, timeout=5_000)
    _speak_until_done(w, qtbot, "Okay.", 2)  # and without it, it speaks on as before
