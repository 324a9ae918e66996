"""The benchmark's strategies are sources of their own (bench/baselines.py), on the fake engine: each speaks
the whole text in order, the batch baseline as one chunk, the per-sentence one a chunk per sentence, and none
uses the phrase-audio cache."""

from __future__ import annotations

import pytest

from voicetrace.bench import compare, stream_input
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
