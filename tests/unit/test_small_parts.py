"""Cache counters, voice blends, text validation and normalisation."""

from __future__ import annotations

import pytest

from voicetrace.engines.cache import LruCache
from voicetrace.engines.voices import parse_blend
from voicetrace.errors import UserError
from voicetrace.text.normalize import MAX_TEXT_CHARS, clean_input, normalize_for_speech

VOICES = ["jf_alpha", "jm_kumo"]


def test_lru_counts_hits_and_evicts_oldest():
    c: LruCache[int] = LruCache("x", 2)
    assert c.get_or_make("a", lambda: 1) == (1, False)
    assert c.get_or_make("a", lambda: 2) == (1, True)
    c.get_or_make("b", lambda: 3)
    c.get_or_make("c", lambda: 4)
    assert c.get_or_make("a", lambda: 5) == (5, False)
    assert (c.hits, c.lookups, len(c)) == (1, 5, 2)


def test_blend_weights_are_normalised():
    assert parse_blend("jm_kumo(3)+jf_alpha(1)", VOICES) == [("jm_kumo", 0.75), ("jf_alpha", 0.25)]
    assert parse_blend("jm_kumo", VOICES) == [("jm_kumo", 1.0)]


@pytest.mark.parametrize("spec", ["", "jm_kumo(", "nobody", "jm_kumo(0)", "jm_kumo+../etc/passwd", "a(1)++b"])
def test_bad_blends_are_user_errors(spec):
    with pytest.raises(UserError):
        parse_blend(spec, VOICES)


@pytest.mark.parametrize("text", ["", "   \n\t ", "?!...", "\x00\x01", "x" * (MAX_TEXT_CHARS + 1)])
def test_unspeakable_or_huge_text_is_rejected(text):
    with pytest.raises(UserError):
        clean_input(text)


def test_control_characters_are_dropped():
    assert clean_input("Hi\x00 there\x07") == "Hi  there "


def test_normalisation_reads_what_espeak_would_misread():
    assert normalize_for_speech("e.g. $42.50, 10% & Dr. Who") == \
        "for example 42 dollars 50 cents, 10 percent and Doctor Who"


def test_cuda_without_onnxruntime_gpu_says_how_to_get_it():
    import onnxruntime as ort

    from voicetrace.engines.base import execution_providers

    assert execution_providers("cpu") == ["CPUExecutionProvider"]
    with pytest.raises(UserError, match="unknown device"):
        execution_providers("tpu")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert execution_providers("cuda")[0] == "CUDAExecutionProvider"
    else:
        with pytest.raises(UserError, match="onnxruntime-gpu"):
            execution_providers("cuda")
