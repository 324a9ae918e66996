"""The benchmark's strategies are sources of their own (bench/baselines.py), on the fake engine: each speaks
the whole text in order, the batch baseline as one chunk, the per-sentence one a chunk per sentence, and none
uses the phrase-audio cache."""

from __future__ import annotations

import pytest

from voicetrace.bench import compare, stream_input
from voicetrace.bench.baselines import uncached
from voicetrace.core.session import Session
from voicetrace.testing.fakes import FakeCost, fake_source

TEXT = "One moment, please. The second sentence is a little longer than the first. And a third one."


@pytest.mark.parametrize(("suite", "strategy"), [
    (compare, "whole"), (compare, "per_sentence"), (compare, "voicetrace_whole"), (compare, "voicetrace"),
    (stream_input, "livekit"), (stream_input, "realtimetts"), (stream_input, "voicetrace")])
def test_every_strategy_speaks_the_whole_text_in_order(device, suite, strategy):
    src = fake_source(FakeCost(rtf=0.05, audio_s_per_char=0.004))
    session = Session(device, {"s": suite.strategy_source(src, strategy)})
    try:
        m = session.submit(TEXT, "s").result(timeout=30)
    finally:
        session.close()
        src.stop()
    assert m.outcome == "done" and m.heard_text == TEXT and m.heard_exact
    assert not m.cache.get("phrase_audio", {}).get("lookups")  # no strategy uses the phrase-audio cache
    if strategy == "whole":
        assert len(m.chunks) == 1
    if strategy == "per_sentence":
        assert len(m.chunks) == 3


def test_the_phrase_cache_is_the_engines_own_setting_and_the_bench_turns_it_off(device):
    """A short reply said twice comes from the cache the second time; `uncached` (every bench strategy) makes the
    engine synthesize it again — no knob travels through the session, source or worker."""
    src = fake_source(FakeCost(rtf=0.05, audio_s_per_char=0.004))
    session = Session(device, {"s": src})
    try:
        runs = [session.submit("Sure.", "s").result(timeout=30) for _ in range(2)]
        uncached(src)
        runs.append(session.submit("Sure.", "s").result(timeout=30))
    finally:
        session.close()
        src.stop()
    assert [r.first_chunk_cached for r in runs] == [False, True, False]
    assert "phrase_audio" not in runs[2].cache
