"""Text that arrives in pieces: the feed settles words only where the next characters cannot change them, the
planner speaks every word once and in order whatever the split, and the session measures first text →
audible, starvation apart from underruns, and what was heard (fake engine, software-clock player)."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicetrace.bench.baselines import BaselinePlanner, Chunking
from voicetrace.contract import Play
from voicetrace.core.session import Session
from voicetrace.errors import UserError
from voicetrace.testing.fakes import FakeCost, fake_source
from voicetrace.text.feed import TextFeed
from voicetrace.text.planner import Planner, PlannerConfig, split_words

WORDS = st.sampled_from(["Hello", "there,", "remember", "$3.5", "98.6", "Dr.", "Smith", "e.g.", "it.", "Okay!",
                         "the", "a", "well;", "one.Two", "don't", "—", "ok?", "café", "\n\n", "x"])


def _plan_streamed(text: str, cuts: list[int], planner: Planner, buffered: list[float]) -> list[str]:
    """Feed `text` cut at `cuts`, asking the planner after every piece (with varying buffered audio and idle
    times), then end; every phrase's words."""
    feed = TextFeed()
    out: list[str] = []
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(text))), len(text)]
    for k, (a, b) in enumerate(itertools.pairwise(bounds)):
        feed.feed(text[a:b])
        planner.update(feed.settled_words(), feed.complete)
        ph = planner.next_phrase(buffered[k % len(buffered)], 0.3, 0.06, idle_s=(k % 3) * 0.1)
        if ph is not None:
            out += ph.words
    feed.end()
    planner.update(feed.settled_words(), feed.complete)
    while (ph := planner.next_phrase(1.0, 0.3, 0.06)) is not None:
        out += ph.words
    assert planner.done
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=40), st.lists(st.integers(0, 400), max_size=30),
       st.lists(st.floats(0, 5), min_size=1, max_size=5), st.sampled_from(["adaptive", "sentence", "whole"]))
def test_any_split_speaks_the_words_of_the_whole_text_in_order(words, cuts, buffered, mode):
    text = " ".join(words)
    planner = Planner("") if mode == "adaptive" else BaselinePlanner(Chunking(mode))  # the bench's baselines too
    spoken = _plan_streamed(text, cuts, planner, buffered)
    assert spoken == [w.text for w in split_words(text)]


@pytest.mark.parametrize(("pieces", "word"), [(["It costs $3.", "5 today."], "$3.5"),
                                              (["Fever of 98.", "6 degrees."], "98.6"),
                                              (["Please remem", "ber this."], "remember")])
def test_an_edge_the_next_characters_could_change_is_never_cut(pieces, word):
    feed = TextFeed()
    feed.feed(pieces[0])
    before = [w.text for w in feed.settled_words()]
    assert pieces[0].split()[-1] not in before  # "$3." is not a word yet: the next character may extend it
    feed.feed(pieces[1])
    feed.end()
    assert word in [w.text for w in feed.settled_words()]


def test_an_abbreviation_does_not_end_the_first_phrase():
    feed = TextFeed()
    feed.feed("Ask Dr.")
    feed.feed(" Smith about it, please.")
    feed.end()
    p = Planner("", PlannerConfig())
    p.update(feed.settled_words(), True)
    first = p.next_phrase(0.0, 0.3, 0.06)
    assert first is not None and first.words[-1] != "Dr."


def test_feed_refuses_bad_pieces():
    feed = TextFeed()
    with pytest.raises(UserError, match="string"):
        feed.feed(42)  # type: ignore[arg-type]
    feed.feed("Done.")
    feed.end()
    with pytest.raises(UserError, match="ended"):
        feed.feed("more")


# ---- through the session ---------------------------------------------------------------------------------
TEXT = ("Sure, here is the answer you asked for. It comes from a model that writes a few words at a time, "
        "and the speech starts before the reply is finished.")


def _tokens(text: str) -> list[str]:
    """Roughly how a tokenizer cuts text: words with their leading space, long words in two."""
    out = []
    for k, w in enumerate(text.split(" ")):
        w = (" " if k else "") + w
        out += [w[:5], w[5:]] if len(w) > 7 else [w]
    return [t for t in out if t]


def _feed(req, tokens, per_s: float, pause_at: int | None = None, pause_s: float = 0.0) -> None:
    for k, tok in enumerate(tokens):
        if k == pause_at:
            time.sleep(pause_s)
        req.feed(tok)
        time.sleep(1 / per_s)
    req.end()


def test_streamed_text_is_spoken_whole_with_first_text_to_audible(device):
    src = fake_source()
    session = Session(device, {"fake": src})
    try:
        req = session.open("fake")
        time.sleep(0.2)  # the model thinks before its first token: TTFA from first text leaves that out
        _feed(req, _tokens(TEXT), 30)
        m = req.result(timeout=30)
    finally:
        session.close()
        src.stop()
    assert m.outcome == "done" and m.stream_input and m.text_chars == len(TEXT)
    assert m.t_first_text_ms is not None and m.t_first_text_ms >= 200
    assert m.ttfa_from_first_text_ms is not None and m.ttfa_audible_ms is not None
    assert m.ttfa_from_first_text_ms < m.ttfa_audible_ms  # not a timing: the same sample, counted from later
    assert m.first_phrase_text is not None and TEXT.startswith(m.first_phrase_text)
    assert m.first_phrase_completed_by is not None
    assert m.heard_text == " ".join(TEXT.split()) and m.heard_exact


def test_text_that_stops_arriving_is_starvation_not_an_underrun(device):
    src = fake_source(FakeCost(rtf=0.05))
    session = Session(device, {"fake": src})
    try:
        req = session.open("fake")
        _feed(req, _tokens(TEXT), 100, pause_at=8, pause_s=1.5)  # the model stalls for 1.5 s mid-reply
        m = req.result(timeout=30)
    finally:
        session.close()
        src.stop()
    assert m.outcome == "done"
    assert m.text_starvations > 0 and m.text_starvation_ms > 0
    assert m.underruns == 0  # synthesis was never late


def test_cancel_reports_the_words_heard_before_silence(device):
    src = fake_source()
    session = Session(device, {"fake": src})
    try:
        req = session.open("fake")
        _feed(req, _tokens(TEXT), 200)
        while not any(e.n for e in req.trace.of(Play)):
            time.sleep(0.01)
        time.sleep(0.8)
        req.cancel()
        m = req.result(timeout=10)
    finally:
        session.close()
        src.stop()
    words = TEXT.split()
    assert m.outcome == "cancelled" and m.heard_text is not None and m.heard_ms and m.heard_ms > 0
    heard = m.heard_text.split()
    assert 0 < len(heard) < len(words) and heard == words[:len(heard)]
    with pytest.raises(UserError, match="cancelled"):
        req.feed("more")


def test_an_empty_stream_ends_with_nothing_to_speak(device):
    src = fake_source()
    session = Session(device, {"fake": src})
    try:
        req = session.open("fake")
        req.end()
        m = req.result(timeout=10)
    finally:
        session.close()
        src.stop()
    assert m.outcome == "failed" and "nothing to speak" in (m.error or "")


def test_the_api_reads_a_token_generator():
    from voicetrace.core.stream import Stream

    src = fake_source()
    try:
        def tokens():
            for t in _tokens(TEXT):
                time.sleep(0.01)
                yield t

        s = Stream(src, tokens(), sample_rate=16_000)
        chunks = list(s)
        assert chunks and chunks[-1].is_final
        assert s.metrics().heard_text == " ".join(TEXT.split())
    finally:
        src.stop()
