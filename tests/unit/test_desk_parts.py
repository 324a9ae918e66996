"""Pure parts behind the window: distributions, CSV/markdown reports, the chunk timeline, word spans."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from voicetrace.contract import PhrasePlanned, Play, RequestMetrics, Submit, SynthEnd, SynthStart, Underrun
from voicetrace.core.report import COLUMNS, distribution, markdown_report, percentile, to_csv
from voicetrace.core.timeline import build
from voicetrace.core.trace import Trace
from voicetrace.text.planner import split_words, word_spans


def _record(**kw) -> RequestMetrics:
    base = dict(request_id="r1", engine="piper", voice="joe", outcome="done", text_chars=10,
                ttfa_callback_ms=50.0, ttfa_audible_ms=60.0, ttfa_voiced_ms=70.0, rtf=0.05, audio_ms=1000.0,
                compute_ms=50.0, chunks=[], underruns=0, underrun_ms=0.0, cancelled=False,
                cancel_to_silence_ms=None, cancel_to_idle_ms=None, cancellation_latency_ms=None,
                stale_samples_after_cancel=0, cache={"phonemes": {"hits": 1, "lookups": 4}}, error=None)
    base.update(kw)
    return RequestMetrics(**base)


def test_distribution_uses_observed_values_only():
    d = distribution([10.0, None, 30.0, 20.0])
    assert d == {"n": 3, "median": 20.0, "p95": 30.0, "max": 30.0}
    assert distribution([None]) == {"n": 0, "median": None, "p95": None, "max": None}
    assert distribution([1.0, 2.0])["median"] == 1.5


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=200),
       st.floats(min_value=0, max_value=100))
def test_percentile_is_an_observed_value_within_bounds(values, q):
    p = percentile(values, q)
    assert p in values
    assert min(values) <= p <= max(values)


def test_csv_has_one_row_per_record_and_every_column():
    rows = list(csv.reader(io.StringIO(to_csv([_record(), _record(request_id="r2", rtf=None)]))))
    assert rows[0] == [h for h, _ in COLUMNS]
    assert len(rows) == 3
    assert rows[1][rows[0].index("phoneme hits")] == "0.25"
    assert rows[2][rows[0].index("RTF")] == ""  # not observed: empty, not 0


def test_markdown_report_per_engine():
    recs = [_record(), _record(engine="kokoro", ttfa_audible_ms=500.0, cancelled=True, cancel_to_silence_ms=30.0,
                               cancel_to_idle_ms=2.0, stale_samples_after_cancel=0)]
    text = markdown_report(recs, "system")
    assert "| kokoro | 1 | 500.0 ms / 500.0 ms |" in text
    assert "| piper | 1 | 60.0 ms / 60.0 ms |" in text
    assert "30.0 ms / 30.0 ms" in text


def test_timeline_from_a_trace():
    t = Trace("x")
    t0 = 1_000_000_000
    t.add(Submit(t0, "x", engine="piper", voice="joe", text_chars=20, device_rate=1000, speed=1.0))
    t.add(PhrasePlanned(t0, "x", index=0, text="Hello there", words=2, first_word=0, total_words=5))
    t.add(SynthStart(t0 + 1_000_000, "x", index=0))
    t.add(SynthEnd(t0 + 51_000_000, "x", index=0, samples=500, rate=1000, compute_ns=1, cache=[]))
    t.add(PhrasePlanned(t0 + 51_000_000, "x", index=1, text="how are you", words=3, first_word=2, total_words=5))
    t.add(SynthStart(t0 + 52_000_000, "x", index=1))
    # chunk 0 plays 100..600 ms in two pieces (500 samples at 1 kHz)
    for off, n in ((0, 200), (200, 300)):
        t.add(Play(t0, "x", index=0, chunk_offset=off, n=n, dac_ns=t0 + (100 + off) * 1_000_000, t_cb_ns=t0,
              faded=False))
    t.add(Underrun(t0, "x", frames=10, dac_ns=t0 + 600_000_000))
    tl = build(t.events)
    assert tl is not None
    assert tl.synth == {0: (1.0, 51.0), 1: (52.0, None)}
    assert tl.play == {0: (100.0, 600.0)}
    assert tl.underruns == [600.0]
    assert tl.chunk_at(300.0) == 0 and tl.chunk_at(50.0) is None and tl.chunk_at(700.0) is None
    # the phrase being heard counts whole where its words were not timed (its highlight is the whole phrase)
    assert tl.words_heard(50.0) == 0 and tl.words_heard(599.0) == 2 and tl.words_heard(600.0) == 2
    assert tl.first_audio == (0.0, 100.0)  # (callback, DAC) of the first audible piece
    assert tl.audio_played_ms(350.0) == 250.0
    assert tl.total_words == 5 and tl.phrases[1] == (2, 3, "how are you")


@given(st.text(alphabet=st.sampled_from(list("ab .,!\n\t")), max_size=80))
def test_word_spans_match_the_planners_words(text):
    spans = word_spans(text)
    words = split_words(text)
    assert [text[a:b] for a, b in spans] == [w.text for w in words]


def test_bench_summary_per_engine_and_strategy():
    from voicetrace.bench.compare import summarize

    def run(strategy, ttfa, interrupted=False, silence=None):
        return {"engine": "piper", "strategy": strategy, "text": "short", "interrupted": interrupted,
                "ttfa_callback_ms": ttfa - 20, "ttfa_audible_ms": ttfa, "rtf": 0.05, "underruns": 0,
                "underrun_ms": 0.0, "cancelled": interrupted, "cancel_to_silence_ms": silence,
                "cancel_to_idle_ms": 1.0 if interrupted else None, "stale_samples_after_cancel": 0}

    runs = [run("whole", 300), run("whole", 500), run("whole", 0, True, 30.0),
            run("voicetrace", 60), run("voicetrace", 70), run("voicetrace", 0, True, 31.0),
            run("voicetrace", 0, True, 39.0)]
    s = summarize(runs)["piper"]
    assert s["whole"]["ttfa_audible_ms_median"] == 400  # interrupted runs do not count for TTFA
    assert s["voicetrace"]["ttfa_audible_ms_median"] == 65
    assert s["voicetrace"]["cancel_to_silence_ms_p99"] == 39.0  # nearest rank: an observed value
    assert s["voicetrace"]["ttfa_audible_ms_by_text"] == {"short": 65}


def test_estimated_dac_times_are_marked_in_the_readout_and_the_cli(capsys):
    from voicetrace.audio.graph import DAC_TIME_ESTIMATED
    from voicetrace.cli.speak import print_summary
    from voicetrace.desk.readout import readout_html

    m = _record(ttfa_audible_ms=105.0, dac_time_estimated=DAC_TIME_ESTIMATED)
    assert "≈105 ms" in readout_html([m]) and DAC_TIME_ESTIMATED in readout_html([m])
    print_summary(m)
    out = capsys.readouterr().out
    assert "audible ≈105.0 ms" in out and f"≈ {DAC_TIME_ESTIMATED}" in out
    plain = _record(ttfa_audible_ms=105.0)
    assert "≈" not in readout_html([plain])
    print_summary(plain)
    assert "≈" not in capsys.readouterr().out
