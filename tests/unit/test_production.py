"""The local pipeline's steps (plan, submit, take, shape, emit) on a fake engine, without a session or a sink:
every phrase planned is emitted in order as pieces of itself, the last chunk is final, and the batch baseline
(bench/baselines.py) holds everything back until the end."""

from __future__ import annotations

import threading

from voicetrace.bench.baselines import BaselineSource, Chunking
from voicetrace.contract import PhrasePlanned, Piece, SynthEnd
from voicetrace.core.production import Production
from voicetrace.core.source import SourceJob, SourceOutput
from voicetrace.core.trace import Trace
from voicetrace.testing.fakes import FakeCost, fake_source
from voicetrace.text.planner import Planner, PlannerConfig

TEXT = "A short start, then a longer sentence follows it. And one more, so there is something to pipeline."


def _produce(config: PlannerConfig | None, pieces: int = 1, chunking: Chunking | None = None
             ) -> tuple[Trace, list[tuple[int, int, bool]]]:
    src = fake_source(FakeCost(fixed_s=0.0, rtf=0.01, audio_s_per_char=0.002), pieces=pieces)
    try:
        trace = Trace("r")
        chunks: list[tuple[int, int, bool]] = []
        out = SourceOutput(trace, lambda i, audio, final: chunks.append((i, len(audio), final)))
        job = SourceJob("r", TEXT, src.default_voice, 1.0, threading.Event(), 24_000, lambda: 0.0)
        with src.worker.streaming():
            if chunking is None:
                Production(src.worker, Planner("", config), job, out, stream_phrase=pieces > 1).run()
            else:  # a baseline makes a request its own way
                BaselineSource(src.worker, chunking, stream_phrase=pieces > 1).production(job, out).run()
        return trace, chunks
    finally:
        src.stop()


def test_each_planned_phrase_is_emitted_in_order_and_the_last_chunk_is_final():
    trace, chunks = _produce(PlannerConfig(), pieces=3)
    planned = trace.of(PhrasePlanned)
    assert len(planned) >= 2 and [c[0] for c in chunks] == list(range(len(chunks)))
    assert [c[2] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    phrases = [p.phrase for p in trace.of(Piece)]
    assert phrases == sorted(phrases) and set(phrases) == {p.index for p in planned}
    assert len(trace.of(SynthEnd)) == len(planned)
    assert sum(n for _, n, _ in chunks) > 0


def test_the_batch_baseline_emits_one_chunk_at_the_end():
    trace, chunks = _produce(None, pieces=3, chunking=Chunking("whole"))
    assert len(chunks) == 1 and chunks[0][2] and chunks[0][1] > 0
    assert len(trace.of(PhrasePlanned)) >= 1
