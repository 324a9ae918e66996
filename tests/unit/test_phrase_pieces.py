"""A phrase decoded in pieces (what Kokoro's cut graph does), on the fast lane: a fake engine that yields each
phrase in several pieces with timed words, the real pipeline, session and player on a software clock. Each
piece is its own chunk, sent on as soon as it is made; the record maps chunks back to phrases; a cancel inside
a phrase leaves no stale sample and says exactly which words were heard. Also the parts: the piece shaper, the
norm-statistics mixture, and the planner's rules for an engine that streams a phrase."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicetrace.audio.shaping import PieceShaper
from voicetrace.contract import ChunkReady, PhrasePlanned, SynthEnd
from voicetrace.core.metrics import piece_map
from voicetrace.core.session import Session
from voicetrace.engines.kokoro_stats import NormStats
from voicetrace.testing.fakes import FakeCost, fake_source
from voicetrace.text.planner import Planner, PlannerConfig, split_words

TEXT = ("First a short phrase, then a longer sentence follows it. And a third one, so that the planner has "
        "several phrases to pipeline while the first ones play.")


def _run(device, pieces: int, cancel_after_s: float | None = None, cost: FakeCost | None = None):
    src = fake_source(cost or FakeCost(rtf=0.3), pieces=pieces)
    session = Session(device, {"fake": src})
    try:
        req = session.submit(TEXT, "fake")
        if cancel_after_s is not None:
            time.sleep(cancel_after_s)
            assert req.cancel()
        return req, req.result(timeout=30)
    finally:
        session.close()
        src.stop()


def test_each_piece_is_a_chunk_sent_before_its_phrase_is_finished(device):
    req, m = _run(device, pieces=3)
    ev = req.trace.events
    pieces = piece_map(ev)
    planned = req.trace.of(PhrasePlanned)
    assert m.outcome == "done" and m.underruns == 0
    # every phrase but the empty end-of-request chunk came in three chunks, in order, offsets growing
    for p in range(len(planned)):
        mine = sorted((c, off) for c, (ph, off) in pieces.items() if ph == p)
        assert len(mine) == 3 and mine[0][1] == 0 and mine[1][1] < mine[2][1]
    # the first chunk of the first phrase was in the sink before that phrase's synthesis ended
    first_ready = next(e.t_ns for e in ev if isinstance(e, ChunkReady))
    first_end = next(e.t_ns for e in ev if isinstance(e, SynthEnd))
    assert first_ready < first_end
    # the record counts words once per phrase, and its synthesis on the phrase's first chunk
    assert sum(c.words for c in m.chunks) == len(TEXT.split())
    assert sum(1 for c in m.chunks if c.synth_ms is not None) == len(planned)
    # the phrase's samples add up: SYNTH_END holds the whole phrase, not its last piece
    made = sum(e.samples for e in req.trace.of(SynthEnd))
    assert made == sum(int(len(e.text) * 0.02 * 24_000) for e in planned)


@pytest.mark.parametrize("after_s", [0.25, 0.7])
def test_cancel_inside_a_phrase_no_stale_samples_and_heard_words_exact(device, after_s):
    _, m = _run(device, pieces=4, cancel_after_s=after_s)
    assert m.outcome == "cancelled" and m.stale_samples_after_cancel == 0
    assert m.heard_text is not None and TEXT.startswith(m.heard_text)
    assert m.heard_exact is True  # the engine timed its words: nothing estimated
    # the words heard are those whose middle reached the DAC before silence: check against the PLAY records
    assert 0 < len(m.heard_text.split()) < len(TEXT.split())


def test_whole_mode_baseline_joins_the_pieces(device):
    """The batch baseline (bench/baselines.py) still sends one chunk, whatever the engine's pieces."""
    from voicetrace.bench.baselines import BaselineSource, Chunking
    from voicetrace.core.worker import EngineWorker
    from voicetrace.testing.fakes import FakeEngine

    src = BaselineSource(EngineWorker(FakeEngine(FakeCost(rtf=0.1), pieces=3)).start(), Chunking("whole"),
                         abortable=True, stream_phrase=True)
    src.wait_ready(10)
    session = Session(device, {"fake": src})
    try:
        m = session.submit("One sentence. And another one here.", "fake").result(timeout=30)
    finally:
        session.close()
        src.worker.stop()  # a baseline borrows its worker
    assert m.outcome == "done" and len(m.chunks) == 1


# ---- the shaper --------------------------------------------------------------------------------------------
def _voice(n: int, rate: int = 24_000) -> np.ndarray:
    return (0.3 * np.cos(2 * np.pi * 200 * np.arange(n) / rate)).astype(np.float32)


def test_shaper_trims_the_lead_once_and_the_tail_on_the_last_piece():
    rate = 24_000
    lead, tail = np.zeros(4800, np.float32), np.zeros(7200, np.float32)
    first = np.concatenate([lead, _voice(2400)])
    middle = _voice(2400)
    last = np.concatenate([_voice(2400), tail])
    sh = PieceShaper()
    a, times = sh.piece(0, first, rate, [(4800, 6000), (6000, 9600)])
    b, _ = sh.piece(0, middle, rate, None)
    c, _ = sh.last(0, last, rate, None)
    keep_lead = int(0.020 * rate)
    assert len(a) == 2400 + keep_lead and abs(a[0]) < 1e-6  # 20 ms of lead kept, faded in
    assert np.array_equal(b, middle)  # untouched: a fade between pieces would dip the voice
    assert len(c) < len(last) and len(c) >= 2400  # the model's trailing silence trimmed, 60 ms kept
    assert times == [(keep_lead, keep_lead + 1200), (keep_lead + 1200, keep_lead + 4800)]


def test_shaper_drops_a_first_piece_that_is_all_silence_and_keeps_its_word_times():
    sh = PieceShaper(ratio=0.5)
    a, t = sh.piece(3, np.zeros(2400, np.float32), 24_000, [(2880, 3000)])
    assert len(a) == 0 and t is None and not sh.started(3)
    _, t = sh.piece(3, np.concatenate([np.zeros(480, np.float32), _voice(1000)]), 24_000, None)
    assert sh.started(3) and t is not None
    # 2400 + 480 − 480 (lead kept) = 2400 raw samples dropped; at half the rate
    assert t == [(240, 300)]


# ---- norm statistics -------------------------------------------------------------------------------------------
def test_norm_stats_recover_a_two_part_mixture_and_survive_a_save(tmp_path):
    names = ("/g/a/ReduceMean_output_0", "/g/a/ReduceMean_2_output_0")
    rng = np.random.default_rng(3)
    m_sil, m_voice = rng.normal(size=4), rng.normal(size=4)
    v_sil, v_voice = rng.uniform(0.5, 1, 4), rng.uniform(1, 2, 4)
    stats = NormStats(names)
    for p in (0.05, 0.1, 0.2, 0.3, 0.35, 0.4):
        mean = p * m_sil + (1 - p) * m_voice
        m2 = p * (v_sil + m_sil**2) + (1 - p) * (v_voice + m_voice**2)
        stats.add(p, 100 + int(p * 50), [mean.reshape(1, -1, 1), (m2 - mean**2).reshape(1, -1, 1)])
    assert stats.ready
    got = stats.predict(0.25)
    mean = 0.25 * m_sil + 0.75 * m_voice
    var = 0.25 * (v_sil + m_sil**2) + 0.75 * (v_voice + m_voice**2) - mean**2
    assert np.allclose(got[names[0]].ravel(), mean, atol=1e-5)
    assert np.allclose(got[names[1]].ravel(), var, atol=1e-5)
    assert got[names[0]].shape == (1, 4, 1) and got[names[0]].dtype == np.float32
    stats.save(tmp_path / "s.npz")
    again = NormStats(names)
    assert again.load(tmp_path / "s.npz") and again.ready
    assert np.allclose(again.predict(0.25)[names[1]], got[names[1]])
    assert not NormStats((*names, "/g/b/ReduceMean_output_0")).load(tmp_path / "s.npz")  # another graph


def test_norm_stats_are_not_ready_without_a_spread_of_pad_shares():
    names = ("/g/a/ReduceMean_output_0",)
    stats = NormStats(names)
    for _ in range(8):
        stats.add(0.2, 100, [np.ones((1, 3, 1))])
    assert not stats.ready  # the two parts cannot be told apart


# ---- the planner for an engine that streams a phrase -------------------------------------------------------
STREAMING = PlannerConfig(first_min_words=3, first_max_words=14, first_max_chars=90, max_chars=150,
                          first_whole_window=True, stream_first_max_words=6, later_by_budget=False)


def test_streaming_first_phrase_is_a_whole_clause_not_two_words():
    text = "The quick brown fox jumps over the lazy dog near the river bank today. Then it rests a while."
    p = Planner(text, STREAMING)
    first = p.next_phrase(0.0, 0.5, 0.07)
    assert first is not None and first.text == "The quick brown fox jumps over the lazy dog near the river bank today."
    later = p.next_phrase(0.0, 0.5, 0.07)  # no buffered audio: a streaming engine still takes the sentence
    assert later is not None and later.text == "Then it rests a while."
    # no break in the window: the whole window, not ending on a word that leans on the next
    p = Planner("we walked along the shore of the lake until the sun went down behind the hills", STREAMING)
    first = p.next_phrase(0.0, 0.5, 0.07)
    assert first is not None and len(first.words) >= 10 and first.words[-1] not in ("the", "of")


def test_streaming_first_phrase_waits_for_at_most_a_short_window_while_text_arrives():
    p = Planner("", STREAMING)
    p.update(split_words("so the answer to your question is that we"), complete=False)
    first = p.next_phrase(0.0, 0.5, 0.07, idle_s=0.0)
    assert first is not None and len(first.words) <= 6


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["word", "the", "a,", "end.", "Dr.", "x" * 30, "and", "ok!"]), min_size=1,
                max_size=60), st.floats(0, 5))
def test_streaming_planner_never_loses_repeats_or_reorders_a_word(words, buffered):
    text = " ".join(words)
    p = Planner(text, STREAMING)
    out: list[str] = []
    while (ph := p.next_phrase(buffered, 0.5, 0.07)) is not None:
        out += ph.words
    assert out == text.split()
