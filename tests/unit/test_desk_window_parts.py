"""The window's Qt-free parts: what it says of records (desk.readout), where the reader is and where Skip and
Start here go (desk.reader), the file I/O (desk.files), and what DeskCore hands the window (messages, preload)."""

from __future__ import annotations

import json

import pytest

from voicetrace.contract import RequestMetrics
from voicetrace.core.timeline import Timeline
from voicetrace.desk.core import DeskCore
from voicetrace.desk.files import export_records, read_text_file
from voicetrace.desk.reader import Reader, sentence_start, skip_target
from voicetrace.desk.readout import ms, presenter_figures, progress_line, readout_html, stream_status_html
from voicetrace.errors import UserError

TEXT = "One two. Three four five. Six."


def _record(**kw) -> RequestMetrics:
    base = dict(request_id="r1", engine="piper", voice="joe", outcome="done", text_chars=10,
                ttfa_callback_ms=50.0, ttfa_audible_ms=60.0, ttfa_voiced_ms=70.0, rtf=0.05, audio_ms=1000.0,
                compute_ms=50.0, chunks=[], underruns=0, underrun_ms=0.0, cancelled=False,
                cancel_to_silence_ms=None, cancel_to_idle_ms=None, cancellation_latency_ms=None,
                stale_samples_after_cancel=0)
    base.update(kw)
    return RequestMetrics(**base)


def test_a_figure_not_measured_reads_as_a_dash():
    assert ms(None) == "—" and ms(12.6) == "13 ms"


def test_readout_gives_the_engines_median_and_marks_stale_samples_in_red():
    records = [_record(ttfa_audible_ms=40.0), _record(engine="kokoro", ttfa_audible_ms=900.0),
               _record(ttfa_audible_ms=80.0, cancelled=True, outcome="cancelled", cancel_to_silence_ms=12.0,
                       stale_samples_after_cancel=3)]
    html = readout_html(records)
    assert html.startswith("<b>piper</b> cancelled")
    assert "median 60 ms of 2" in html  # this engine's requests only
    assert "cancel→silence <b>12 ms</b>" in html and "#ff5c5c'>3<" in html
    assert " · <br>" not in html


def test_stream_status_escapes_the_words_heard():
    rec = _record(stream_input=True, t_first_text_ms=5.0, ttfa_from_first_text_ms=300.0, cancelled=True,
                  heard_text="a <b>bold</b> claim", heard_ms=800.0, heard_exact=False)
    html = stream_status_html(rec)
    assert "first text → audible <b>300 ms</b>" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "estimated inside the last phrase" in html


def test_presenter_keeps_its_cancel_figures_until_a_request_is_cancelled():
    figures = presenter_figures([_record()])
    assert figures.ttfa == "60 ms" and figures.silence is None and figures.stale is None
    figures = presenter_figures([_record(cancelled=True, cancel_to_silence_ms=9.0), _record()])
    assert figures.silence == "9 ms" and figures.stale == 0
    assert "1 interrupts, cancel → silence median 9 ms" in figures.summary


def test_skip_moves_by_sentences_within_what_is_read():
    starts = [0, TEXT.index("Three"), TEXT.index("Six")]
    assert skip_target(TEXT, starts[1] + 2, len(TEXT), 1) == starts[2]
    assert skip_target(TEXT, starts[1] + 2, len(TEXT), -1) == starts[0]
    assert skip_target(TEXT, 0, len(TEXT), -1) == 0  # before the first: the first again
    assert skip_target(TEXT, starts[2], len(TEXT), 1) == "that was the last sentence"
    assert skip_target(TEXT, 0, starts[2], 1) == starts[1]  # only sentences before the end of what is read
    assert skip_target("", 0, 0, 1) == "there is no text to read"
    assert sentence_start(TEXT, TEXT.index("five")) == starts[1]


def test_reader_is_where_the_listener_is_while_the_editor_holds_what_is_spoken():
    r = Reader()
    assert r.position(len(TEXT), 3, busy=True) == (3, len(TEXT))  # nothing spoken: the cursor
    offset = TEXT.index("Three")
    r.read_text("r1", offset, TEXT[offset:TEXT.index("Six")])
    end = TEXT.index("Six")
    assert r.position(len(TEXT), 3, busy=True) == (offset, end)
    r.highlight = (offset + 6, offset + 10)
    assert r.position(len(TEXT), 3, busy=True) == (offset + 6, end)
    assert r.position(len(TEXT), 3, busy=False) == (3, len(TEXT))
    r.edited_since_speak = True
    assert r.position(len(TEXT), 3, busy=True) == (3, len(TEXT))


def test_reader_follows_the_phrase_heard_and_the_word_where_the_engine_timed_words():
    r = Reader()
    spoken = "One two. Three four five."
    r.read_text("r1", 4, spoken)
    tl = Timeline(t0_ns=0, rate=24000, play={0: (0.0, 500.0), 1: (500.0, 1200.0)},
                  phrases={0: (0, 2, "One two."), 1: (2, 3, "Three four five.")}, total_words=5,
                  word_ms={1: [(500.0, 700.0), (700.0, 900.0), (900.0, 1200.0)]})
    assert r.follow("r1", tl, 100.0, lambda: "") and r.highlight == (4, 4 + len("One two."))
    assert not r.follow("r1", tl, 200.0, lambda: "")  # the same span: nothing to repaint
    four = 4 + spoken.index("four")
    assert r.follow("r1", tl, 750.0, lambda: "") and r.highlight == (four, four + len("four"))
    assert r.follow("r2", tl, 750.0, lambda: "") and r.highlight is None  # another request's text
    # the progress line counts up to the highlighted word ("four", the 4th), not the phrases played to their end
    assert progress_line(tl, 750.0, paused=False) == "speaking: phrase 2 of 2 planned · words 4/5 · 0.8 s played"


def test_text_files_are_read_as_utf8_and_refused_with_a_reason(tmp_path):
    good = tmp_path / "a.md"
    good.write_bytes("\ufeffhéllo".encode())
    assert read_text_file(str(good)) == "héllo"
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"ab\x00cd")
    with pytest.raises(UserError, match="binary"):
        read_text_file(str(binary))
    with pytest.raises(UserError, match="cannot read"):
        read_text_file(str(tmp_path / "missing.txt"))


def test_records_export_as_json(tmp_path):
    path = tmp_path / "m.json"
    export_records(str(path), [_record()], "json")
    assert json.loads(path.read_text())[0]["request_id"] == "r1"


def test_core_hands_each_message_to_the_window_once(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    core = DeskCore(metrics_log=blocker / "log.jsonl")  # its folder is a file: the log cannot be written
    core._append_log([_record()])
    [message] = core.take_messages()
    assert "cannot append to the metrics log" in message
    assert core.take_messages() == [] and core.metrics_log is None
    assert core.voice_state() is None  # not listening


def test_core_preloads_one_known_engine_at_a_time(monkeypatch):
    core = DeskCore()
    started: list[str] = []
    monkeypatch.setattr(core, "start_engine", lambda engine_id: started.append(engine_id))
    core.preload_next({"piper"})
    assert started == ["piper"]  # kokoro is not in the catalog given


def test_the_barge_in_row_says_how_auto_reads_the_microphone() -> None:
    from voicetrace.desk.readout import voice_listening

    assert "does not hear the app" in voice_listening("direct", "aec3", adapting=False)
    assert "finding out" in voice_listening("undecided", "aec3", adapting=True)
    assert "learning the room" in voice_listening("aec3", "aec3", adapting=True)
    assert voice_listening("aec3", "aec3", adapting=False) == "listening (speakers: AEC3 cancels its own voice)"
    assert voice_listening("direct", "off", adapting=False) == "listening (headphones)"
    assert "echo gate" in voice_listening("gate", "gate", adapting=False)
