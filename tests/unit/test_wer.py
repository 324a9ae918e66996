"""Word error rate: the edit distance over normalised words."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from voicetrace.bench.wer import normalise, wer_percent, word_errors


def test_normalise_ignores_case_and_punctuation_but_keeps_contractions() -> None:
    assert normalise("Don’t stop, PLEASE!  It's 5 o'clock.") == ["don't", "stop", "please", "it's", "5", "o'clock"]


def test_each_kind_of_error_counts_one() -> None:
    ref = "the cat sat on the mat"
    assert word_errors(ref, "The cat sat on the mat.") == (0, 6)
    assert word_errors(ref, "the cat sat on a mat") == (1, 6)  # substitution
    assert word_errors(ref, "the cat on the mat") == (1, 6)  # deletion
    assert word_errors(ref, "the fat cat sat on the mat") == (1, 6)  # insertion
    assert word_errors(ref, "") == (6, 6)


def test_corpus_wer_weights_by_reference_words() -> None:
    assert wer_percent([("one two three four", "one two three four"), ("five six", "five")]) == round(100 / 6, 2)
    assert wer_percent([]) is None


words = st.lists(st.sampled_from(["a", "b", "c", "dog", "sun"]), max_size=12).map(" ".join)


@given(words, words)
def test_distance_is_bounded_and_zero_only_for_equal_word_lists(ref: str, hyp: str) -> None:
    e, n = word_errors(ref, hyp)
    assert n == len(ref.split())
    assert abs(len(ref.split()) - len(hyp.split())) <= e <= max(n, len(hyp.split()))
    assert (e == 0) == (normalise(ref) == normalise(hyp))
