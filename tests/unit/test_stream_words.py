"""`Stream.words`: the word timing the engine gave, per chunk, in seconds from the chunk's first sample (what
the framework integrations hand on as word timestamps). Fake engine, no sound card."""

from __future__ import annotations

from voicetrace import Stream
from voicetrace.testing.fakes import FakeCost, fake_source


def test_timed_words_come_with_the_first_piece_of_each_phrase_in_order():
    src = fake_source(FakeCost(rtf=0.05, audio_s_per_char=0.01), pieces=2)
    try:
        stream = Stream(src, None, sample_rate=16_000)
        for piece in ("Hello there, ", "how are you ", "doing today?"):
            stream.feed(piece)
        stream.end()
        words: list[str] = []
        for chunk in stream:
            timed = stream.words(chunk.chunk_index)
            assert all(0 <= a <= b for _, a, b in timed)
            assert [a for _, a, _ in timed] == sorted(a for _, a, _ in timed)
            words += [w for w, _, _ in timed]
        assert words == ["Hello", "there,", "how", "are", "you", "doing", "today?"]
        assert stream.words(999) == []
    finally:
        src.stop()


def test_an_engine_that_does_not_time_words_gives_none_or_an_estimate_when_asked():
    src = fake_source(FakeCost(rtf=0.05, audio_s_per_char=0.01), pieces=1)
    try:
        stream = Stream(src, "One two three. And four.")
        spread: list[tuple[str, float, float]] = []
        for c in stream:
            assert stream.words(c.chunk_index) == []
            length = len(c.audio) / c.sample_rate
            estimate = stream.words(c.chunk_index, spread_s=length)
            if estimate:  # laid over the phrase's expected length, never shorter than its first chunk
                assert all(0 <= a <= b for _, a, b in estimate) and estimate[-1][2] >= 0.8 * length
            spread += estimate
        assert [w for w, _, _ in spread] == ["One", "two", "three.", "And", "four."]
    finally:
        src.stop()
