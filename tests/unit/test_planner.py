"""The planner never loses, repeats or reorders a word; the first phrase is short; phrases respect limits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from voicetrace.bench.baselines import BaselinePlanner, Chunking
from voicetrace.text.planner import CLAUSE, SENTENCE, Planner, PlannerConfig, split_to_limit, split_words

_word_chars = st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"))
words_st = st.lists(st.text(alphabet=_word_chars, min_size=1, max_size=12), min_size=1, max_size=80)
punct_st = st.sampled_from(["", "", "", ",", ".", "?", ";", "!"])


def run_planner(text: str, cfg: PlannerConfig | None, buffered: list[float], p: Planner | None = None) -> list:
    p = p or Planner(text, cfg)
    out = []
    i = 0
    while (ph := p.next_phrase(buffered[i % len(buffered)], 0.35, 0.07)) is not None:
        out.append(ph)
        i += 1
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(words_st.map(lambda w: w[0]), punct_st), min_size=1, max_size=120),
       st.lists(st.floats(0, 30), min_size=1, max_size=5), st.integers(10, 400))
def test_no_word_lost_duplicated_or_reordered(pairs, buffered, max_chars):
    text = " ".join(w + p for w, p in pairs)
    phrases = run_planner(text, PlannerConfig(max_chars=max_chars), buffered)
    assert [w for ph in phrases for w in ph.words] == text.split()
    assert [ph.index for ph in phrases] == list(range(len(phrases)))
    for ph in phrases:  # under the limit, unless a single word is longer than it
        assert len(ph.text) <= max_chars or len(ph.words) == 1


def test_first_phrase_is_short_and_ends_at_a_natural_break():
    text = "Sure, I can help with that. The weather tomorrow is sunny with a light breeze from the west."
    ph = Planner(text, PlannerConfig(first_min_words=1, first_max_words=4)).next_phrase(0, 0.3, 0.07)
    assert ph is not None and ph.words == ("Sure,",) and ph.brk == CLAUSE


def test_first_phrase_takes_two_words_unless_the_first_ends_at_a_break():
    """bench --wer: a lone unbroken first word ("She", "Before") was misheard when spoken as its own utterance."""
    cfg = PlannerConfig(first_min_words=2, first_break_min_words=1, first_max_words=3, first_max_chars=12)
    assert Planner("She opened the window.", cfg).next_phrase(0, 0.3, 0.07).words == ("She", "opened")
    assert Planner("Okay. She opened it.", cfg).next_phrase(0, 0.3, 0.07).words == ("Okay.",)
    # past the character cap rather than end on "the"
    assert Planner("If the printer keeps jamming", cfg).next_phrase(0, 0.3, 0.07).words == ("If", "the", "printer")


@given(words_st, st.integers(1, 12))
def test_fixed_mode_cuts_every_n_words(words, n):
    """The benchmark's fixed-size chunking (bench/baselines.py), on the planner's incremental contract."""
    text = " ".join(words)
    phrases = run_planner(text, None, [0.0, 5.0], BaselinePlanner(Chunking("fixed", fixed_words=n), text))
    assert [len(ph.words) for ph in phrases[:-1]] == [n] * (len(phrases) - 1)
    assert [w for ph in phrases for w in ph.words] == " ".join(words).split()


def test_first_phrase_does_not_end_on_a_leaning_word():
    ph = Planner("I think that the answer is forty two", PlannerConfig(first_min_words=2, first_max_words=5)) \
        .next_phrase(0, 0.3, 0.07)
    assert ph is not None and ph.words[-1].lower() not in {"that", "the", "i"}


def test_later_phrases_grow_with_buffered_audio():
    text = " ".join(f"This is sentence number {i} of the long text." for i in range(40))
    small = Planner(text)
    small.next_phrase(0, 0.3, 0.07)
    short = small.next_phrase(0.5, 0.3, 0.07)
    big = Planner(text)
    big.next_phrase(0, 0.3, 0.07)
    long = big.next_phrase(8.0, 0.3, 0.07)
    assert short is not None and long is not None and len(long.words) > len(short.words)
    assert long.brk >= SENTENCE


def test_abbreviations_and_initials_do_not_end_sentences():
    brks = {w.text: w.brk for w in split_words("Dr. Smith met Mr. Jones, e.g. at 5 p.m. today. U.S. news.")}
    assert brks["Dr."] == 0 and brks["Mr."] == 0 and brks["e.g."] == 0
    assert brks["today."] == SENTENCE


def test_split_to_limit_keeps_words_in_order():
    words = tuple(f"w{i}" for i in range(37))
    parts = split_to_limit(words, lambda t: len(t) <= 30)
    assert [w for p in parts for w in p] == list(words)
    assert all(len(" ".join(p)) <= 30 for p in parts)


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=500).filter(lambda s: s.strip() == s and " " not in s),
       st.integers(2, 80), st.integers(1, 40))
def test_an_over_long_word_is_spoken_in_pieces_that_fit(word, max_chars, limit):
    from voicetrace.text.planner import split_long_word

    pieces = split_long_word(word, lambda t: len(t) <= limit, max_chars)
    assert "".join(pieces) == word  # nothing lost, repeated or reordered
    assert all(len(p) <= min(max_chars, max(limit, 1)) or len(p) == 1 for p in pieces)


def test_a_cut_inside_a_clause_avoids_leaning_words_and_orphans():
    """Kokoro-like budgets: the second phrase must cut inside the clause. It does not end on a word leaning on
    the next, and does not leave one or two words of the sentence alone."""
    text = "Okay. So please bring your ticket and a warm coat."
    cfg = PlannerConfig(first_min_words=2, first_max_words=3, first_max_chars=12, max_chars=150)
    for budget_s in (0.3, 0.5, 0.8, 1.2):
        p = Planner(text, cfg)
        p.next_phrase(0, 0.35, 0.07)
        ph = p.next_phrase(budget_s, 0.35, 0.07)
        assert ph.words[-1].lower() not in {"the", "a", "and", "your"}
        rest = p.words[p.pos:]
        assert not (0 < len(rest) <= 2 and rest[-1].brk >= SENTENCE and ph.brk < CLAUSE)
