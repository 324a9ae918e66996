"""A source reports through its request's `SourceOutput`: the trace events are written for it, a chunk's offset
in its phrase is counted for it, and what a chunk is (its phrase, that phrase's plan and synthesis) is answered
without reading the trace."""

from __future__ import annotations

import numpy as np

from voicetrace.contract import PhrasePlanned, Piece, SynthEnd, SynthStart
from voicetrace.core.source import SourceOutput
from voicetrace.core.trace import Trace


def test_a_source_says_what_it_made_and_the_output_records_and_answers_it():
    trace = Trace("r")
    emitted: list[tuple[int, int, bool, int]] = []  # (chunk, samples, final, Piece events recorded by then)
    out = SourceOutput(trace, lambda i, audio, final: emitted.append((i, len(audio), final, len(trace.of(Piece)))))
    out.plan(0, "Hello there", 2, total_words=5)
    out.synth_started(0, 10)
    out.chunk(0, np.zeros(100, np.float32), False, phrase=0, word_times=[(0, 40), (50, 90)])
    out.chunk(1, np.zeros(60, np.float32), False, phrase=0)
    out.synth_ended(0, 160, 24_000, 1_000, [("phrase_audio", False)], t_ns=20)
    out.chunk(2, np.zeros(0, np.float32), True)  # a chunk that is its phrase whole: no Piece
    assert emitted == [(0, 100, False, 1), (1, 60, False, 2), (2, 0, True, 2)]  # each Piece before its chunk
    assert [(p.index, p.phrase, p.offset) for p in trace.of(Piece)] == [(0, 0, 0), (1, 0, 100)]
    assert trace.of(Piece)[0].word_times == ((0, 40), (50, 90))
    assert out.phrase_of(1) == 0 and out.phrase_of(2) == 2 and out.piece(2) is None
    assert out.phrase(0) == trace.of(PhrasePlanned)[0] and out.phrases_planned == 1
    assert out.synth_start(0) == trace.first(SynthStart) and out.synth_end(0) == trace.first(SynthEnd)
    assert trace.first(SynthEnd).cache == (("phrase_audio", False),)
