"""The benchmark's baselines as chunk sources of their own, so the product's planner, pipeline and session
carry no baseline knob:

- `BaselineSource`: VoiceTrace's warm worker and pipeline with a baseline's chunking (`Chunking`): the whole
  text at once and nothing played until all of it is made (`whole`), one sentence per call (`sentence`, what
  most wrappers stream; LiveKit's sentence tokenizer), a first fragment at any delimiter then sentences
  (`fragment`, RealtimeTTS's feed()), or a fixed number of words (`fixed`). Each waits for its unit while the
  text is still arriving, as its original does.
- `KokoroOnnxStreamSource`: kokoro-onnx's own `create_stream` on the Kokoro engine's model."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..contract import AudioArray
from ..core.pipeline import LocalSource
from ..core.production import Production
from ..core.source import EngineVoices, OnIdle, Readiness, SourceJob, SourceOutput
from ..core.trace import now_ns
from ..core.worker import EngineWorker
from ..engines.phonemes import ESPEAK_LOCK
from ..text.planner import CLAUSE, SENTENCE, Planner, PlannerConfig

CHUNKINGS = ("whole", "sentence", "fragment", "fixed")


def uncached(w: LocalSource) -> LocalSource:
    """`w` with its engine's phrase-audio cache off: every strategy is compared on synthesis, not on what a
    cache remembered (the levers suite turns it on to measure it)."""
    w.engine.caches_phrases = False
    return w


@dataclass(frozen=True)
class Chunking:
    """How a baseline cuts its text into synthesis calls."""

    mode: str  # one of CHUNKINGS
    sentence_min_chars: int = 0  # sentence / fragment: a shorter sentence waits for the next one
    fragment_max_words: int = 0  # fragment: a sentence this long is cut anyway (0: never)
    fixed_words: int = 8  # fixed: every phrase this many words


# The originals' settings: LiveKit's sentence tokenizer (sentence_min_chars=20), RealtimeTTS's feed()
# (sentence_min_chars=10, fragment_max_words=30).
LIVEKIT = Chunking("sentence", sentence_min_chars=20)
REALTIMETTS = Chunking("fragment", sentence_min_chars=10, fragment_max_words=30)


class BaselinePlanner(Planner):
    """Cuts where a baseline cuts (`Chunking`; the pipeline still splits what the engine cannot take), never
    capped by `max_chars`, and never forced while text is still arriving."""

    def __init__(self, chunking: Chunking, text: str = "", config: PlannerConfig | None = None) -> None:
        if chunking.mode not in CHUNKINGS:
            raise ValueError(f"unknown chunking {chunking.mode!r}")
        super().__init__(text, config)
        self.chunking = chunking

    def _cut(self, buffered_s: float, rtf: float, sec_per_char: float) -> tuple[int, bool]:
        c, n = self.chunking, len(self.words)
        if c.mode == "whole":
            return n, False
        if c.mode == "fixed":
            end = min(n, self.pos + c.fixed_words)
            return end, end - self.pos == c.fixed_words
        return self._unit_end(CLAUSE if c.mode == "fragment" and self.count == 0 else SENTENCE)

    def _must_go(self, buffered_s: float, rtf: float, sec_per_char: float, idle_s: float) -> bool:
        return False  # the baselines wait for their unit (a sentence, the whole text), as they do

    def _unit_end(self, brk: int) -> tuple[int, bool]:
        """The first break at least `brk` strong after `sentence_min_chars` (and, in fragment mode, at most
        `fragment_max_words` words); stable once found among the settled words."""
        c = self.chunking
        chars = 0
        for i in range(self.pos, len(self.words)):
            chars += len(self.words[i].text) + (i > self.pos)
            if self.words[i].brk >= brk and chars >= c.sentence_min_chars:
                return i + 1, True
            if c.fragment_max_words and i + 1 - self.pos >= c.fragment_max_words:
                return i + 1, True
        return len(self.words), False


class _HeldProduction(Production):
    """The batch baseline: every chunk held back, then all of it as one final chunk (resampled once)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.held: list[AudioArray] = []

    def _emit(self, audio: AudioArray, final: bool, phrase: int,
              word_times: list[tuple[int, int]] | None = None) -> None:
        self.held.append(audio)
        if final:
            super()._emit(np.concatenate(self.held), True, 0, None)


class BaselineSource(LocalSource):
    """A baseline on a warm worker it shares (it does not stop it): `chunking` decides the phrases; by default
    it stops between chunks as the originals do (the run in flight finishes) and uses no phrase-audio cache."""

    def __init__(self, worker: EngineWorker, chunking: Chunking, planner_config: PlannerConfig | None = None,
                 abortable: bool = False, stream_phrase: bool = False) -> None:
        super().__init__(worker, planner_config, abortable, owns_worker=False, stream_phrase=stream_phrase)
        self.chunking = chunking

    def production(self, job: SourceJob, out: SourceOutput) -> Production:
        kind = _HeldProduction if self.chunking.mode == "whole" else Production
        return kind(self.worker, BaselinePlanner(self.chunking, config=self.planner_config), job, out, self.abortable,
                    self.stream_phrase)


_WHOLE_GRAPH: dict[int, Any] = {}


class KokoroOnnxStreamSource(EngineVoices, Readiness):
    """kokoro-onnx's own `create_stream` on the Kokoro engine's model, as a chunk source: it stops the way the
    original does, between chunks (the batch in flight finishes)."""

    def __init__(self, kokoro: LocalSource) -> None:
        super().__init__()
        self.name = kokoro.name
        self.engine = kokoro.engine
        self.rate = kokoro.engine.rate
        self.load_ms, self.warmup_ms = kokoro.load_ms, kokoro.warmup_ms
        self._loaded(kokoro.error)
        self._stopping: dict[str, list[OnIdle]] = {}

    def _kokoro_onnx(self) -> Any:
        """kokoro-onnx on a session of the *whole* graph (the engine's own sessions are the cut graph's),
        made once per engine."""
        from ..engines.base import make_session
        from ..engines.phonemes import ESPEAK_LOCK as LOCK

        key = id(self.engine)
        if key not in _WHOLE_GRAPH:
            from kokoro_onnx import Kokoro

            entry = self.engine.entry
            session = make_session(str(entry.path("model")), **self.engine.tuning)
            with LOCK:
                _WHOLE_GRAPH[key] = Kokoro.from_session(session, str(entry.path("voices")))
        return _WHOLE_GRAPH[key]

    def produce(self, job: SourceJob, out: SourceOutput) -> None:
        import soxr

        kokoro = self._kokoro_onnx()
        resample = (soxr.ResampleStream(self.engine.rate, job.out_rate, 1, dtype="float32")
                    if self.engine.rate != job.out_rate else None)
        self._stopping[job.request_id] = []

        async def run() -> None:
            gen = kokoro.create_stream(job.text, job.voice, job.speed, "en-us")
            index = 0
            pending: np.ndarray | None = None
            try:
                while True:
                    t0 = now_ns()
                    out.synth_started(index, t0)
                    with ESPEAK_LOCK:  # its first step phonemizes the whole text with espeak-ng
                        try:
                            audio, rate = await gen.__anext__()
                        except StopAsyncIteration:
                            break
                    t1 = now_ns()
                    a = np.asarray(audio, dtype=np.float32).reshape(-1)
                    out.synth_ended(index, len(a), rate, t1 - t0, t_ns=t1)
                    out.plan(index, "", 0)
                    if job.stop.is_set():
                        return
                    # Hold one chunk back: only the generator's end says which chunk is the last.
                    if pending is not None:
                        made = resample.resample_chunk(pending) if resample else pending
                        out.chunk(index - 1, np.asarray(made, dtype=np.float32), False)
                    pending = a
                    index += 1
                if pending is not None and not job.stop.is_set():
                    made = resample.resample_chunk(pending, last=True) if resample else pending
                    out.chunk(index - 1, np.asarray(made, dtype=np.float32), True)
            finally:
                await gen.aclose()

        try:
            asyncio.run(run())
        finally:
            waiters = self._stopping.pop(job.request_id, [])
            t = now_ns()
            for w in waiters:
                w(t)  # the generator is closed: nothing more runs for this request

    def cancel(self, request_id: str, on_idle: OnIdle) -> None:
        waiters = self._stopping.get(request_id)
        if waiters is None:
            on_idle(now_ns())
        else:
            waiters.append(on_idle)  # between chunks, as kokoro-onnx stops: after the batch in flight

    def stop(self) -> None:
        pass  # the Kokoro source it borrowed is stopped by its owner
