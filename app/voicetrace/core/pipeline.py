"""The local chunk source: one request's text → chunks through a warm worker (the steps, plan → submit →
take → shape → emit, are `production.Production`), and the planner settings per engine. The same source feeds
the player's ring, a socket (the server), an iterator (the Python API) or a file: only where the chunks go
(the session's side of `SourceOutput`) and how much audio is queued ahead of the listener (`buffered_s`)
differ."""

from __future__ import annotations

import threading
from typing import Self

from ..engines import create_engine
from ..engines.base import Engine
from ..engines.catalog import find_model
from ..errors import UserError
from ..text.planner import Planner, PlannerConfig
from .production import Production
from .source import EngineVoices, OnIdle, SourceJob, SourceOutput
from .worker import SCHEDULES, EngineWorker

# Kokoro costs ~0.3-0.4 s of compute per second of audio, so its first phrase is two short words (one when it
# ends at a break: "Sure,"); a lone unbroken word hurt intelligibility (bench --wer);
# its later phrases stay near a sentence (150 chars), which also bounds peak memory: onnxruntime keeps the
# arena its largest run needed (both engines loaded, 150-word paragraphs: 746 MB at 180 chars, 662 MB at 150).
PLANNER_DEFAULTS = {
    "kokoro": PlannerConfig(first_min_words=2, first_max_words=3, first_max_chars=12, max_chars=150),
    "piper": PlannerConfig(first_min_words=2, first_max_words=3, first_max_chars=16, max_chars=200),
}
# Kokoro decoding a phrase in pieces: its first sound no longer waits for the whole first phrase (the front
# grows with it, ~50 → ~180 ms from 2 to 14 words on the 2-core VM, and a long phrase needs a larger first
# piece to keep ahead), so the first phrase is a natural clause again, up to 8 words.
STREAMING_PLANNER = {
    "kokoro": PlannerConfig(first_min_words=3, first_break_min_words=1, first_max_words=8, first_max_chars=60,
                            max_chars=150, first_whole_window=True, stream_first_max_words=6,
                            later_by_budget=False),
}


def planner_config_for(engine_kind: str, streams: bool = False) -> PlannerConfig:
    if streams and engine_kind in STREAMING_PLANNER:
        return STREAMING_PLANNER[engine_kind]
    return PLANNER_DEFAULTS.get(engine_kind, PlannerConfig())


class LocalSource(EngineVoices):
    """A chunk source over a warm local engine (see the module docstring). Several sources may share one
    worker (the benchmark's strategies, each with its own planner); the worker counts the requests it serves
    so each plans for its share of the engine."""

    def __init__(self, worker: EngineWorker, planner_config: PlannerConfig | None = None, abortable: bool = True,
                 owns_worker: bool = True, stream_phrase: bool = True) -> None:
        """`abortable`: a cancel aborts the run in flight (False: it finishes, as the baselines stop).
        `stream_phrase`: let the engine decode a phrase in pieces (Kokoro; False: `--kokoro-mode whole`)."""
        self.worker = worker
        self.engine: Engine = worker.engine
        self.name = worker.engine.name
        self.stream_phrase = stream_phrase
        self._planner_config = planner_config
        self.abortable = abortable
        self._owns_worker = owns_worker

    @property
    def planner_config(self) -> PlannerConfig:
        """The one given, else the engine's default, which depends on whether it streams (known once loaded)."""
        if self._planner_config is not None:
            return self._planner_config
        streams = self.stream_phrase and getattr(self.engine, "can_stream", False)
        return planner_config_for(self.engine.entry.engine, streams)

    @classmethod
    def load(cls, model_id: str, device: str = "cpu", schedule: str = SCHEDULES[0],
             stream_phrase: bool = True) -> Self:
        """Start loading and warming a model from the catalog on its own worker thread; returns at once."""
        worker = EngineWorker(create_engine(find_model(model_id), device=device), schedule).start()
        return cls(worker, stream_phrase=stream_phrase)

    def sharing(self, planner_config: PlannerConfig | None = None, abortable: bool = True,
                stream_phrase: bool | None = None) -> LocalSource:
        """Another source on the same warm worker (it does not stop the worker)."""
        streams = self.stream_phrase if stream_phrase is None else stream_phrase
        return LocalSource(self.worker, planner_config, abortable, owns_worker=False, stream_phrase=streams)

    @property
    def rate(self) -> int:
        return self.engine.rate  # a Piper voice's rate is read from its config when it loads

    # ---- the load state (the worker's) ---------------------------------------------------------------
    @property
    def state(self) -> str:
        return self.worker.state

    @property
    def error(self) -> BaseException | None:
        return self.worker.error

    @property
    def ready(self) -> threading.Event:
        return self.worker.ready

    @property
    def load_ms(self) -> float | None:
        return self.engine.load_ms

    @property
    def warmup_ms(self) -> float | None:
        return self.engine.warmup_ms

    def wait_ready(self, timeout: float | None = None) -> None:
        self.worker.wait_ready(timeout)

    # ---- the source ----------------------------------------------------------------------------------
    def produce(self, job: SourceJob, out: SourceOutput) -> None:
        with self.worker.streaming():
            _produce(self, job, out)

    def production(self, job: SourceJob, out: SourceOutput) -> Production:
        """The steps that make one request (the benchmark's baselines make it their own way)."""
        return Production(self.worker, Planner("", self.planner_config), job, out, self.abortable,
                          self.stream_phrase)

    def cancel(self, request_id: str, on_idle: OnIdle) -> None:
        self.worker.cancel(request_id, on_idle)

    def is_idle(self) -> bool:
        """Nothing of anyone's runs or waits on its engine (what a server checks after a client left)."""
        return self.worker.is_idle()

    def stop(self) -> None:
        if self._owns_worker:
            self.worker.stop()


def _produce(source: LocalSource, job: SourceJob, out: SourceOutput) -> None:
    """Run one request through a local worker once it is ready. Returns when the last chunk was emitted or
    `job.stop` was set; raises UserError (bad voice, engine failed to load) or RuntimeError (a failed run)."""
    worker = source.worker
    while not worker.ready.wait(0.05):
        if job.stop.is_set():
            return
    if worker.error is not None:
        raise UserError(f"engine {worker.engine.name} failed to load: {worker.error}",
                        "see `voicetrace models --verify`")
    source.production(job, out).run()
