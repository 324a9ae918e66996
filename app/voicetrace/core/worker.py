"""A warm worker: one engine on one thread. Loads and warms once, then runs phrase jobs from a queue.
cancel() drops a request's queued jobs and aborts its run in flight; it acknowledges (`on_idle`) once the
engine is no longer working for that request. Several requests (a server's clients) may share it: jobs run
earliest deadline first. Touches neither Qt nor PortAudio; knows nothing of phrases or chunks."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..engines.base import Engine, SynthResult
from ..errors import SynthesisCancelled
from .trace import now_ns


@dataclass(eq=False)
class Job:
    request_id: str
    index: int
    text: str
    voice: str
    speed: float
    on_start: Callable[[int], None]
    on_done: Callable[[SynthResult | None, BaseException | None, int], None]  # (result, error, t_end_ns)
    cancelled: bool = False
    # When its stream runs out of audio (perf_counter_ns); 0 = now. The worker runs the earliest first.
    deadline_ns: int = 0
    # False: a cancel lets this run finish (how the benchmark's baseline streamers stop: between chunks)
    abortable: bool = True
    # Receives each piece of the phrase but the last as soon as the engine yields it (an engine that decodes a
    # phrase in pieces); None: the pieces are joined and the whole phrase goes to on_done.
    on_piece: Callable[[SynthResult], None] | None = None
    stream: bool = True  # let the engine decode the phrase in pieces (False: the phrase-at-a-time baseline)


SCHEDULES = ("deadline", "fifo")


class EngineWorker:
    def __init__(self, engine: Engine, schedule: str = "deadline") -> None:
        """`schedule`: "deadline" (earliest deadline first, phrases sized for the engine's share) or "fifo"
        (first come first served, each stream planned as if alone: the baseline the benchmark compares)."""
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}")
        self.engine = engine
        self.schedule = schedule
        self.state = "created"  # loading | warming | ready | error
        self.error: BaseException | None = None
        self.ready = threading.Event()  # set when ready *or* failed
        # Planner estimates, refined by every real run: RTF is the user's machine's, not a constant
        # (docs/measurements.md, "Engines: costs and session options").
        self.rtf_est = 0.5
        self.sec_per_char_est = 0.07
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._pending: list[Job] = []
        self._current: Job | None = None
        self._idle_waiters: dict[str, list[Callable[[int], None]]] = {}
        # A producer may submit its next phrase just after its request was cancelled (it had the previous
        # result in hand): remembering recent cancels drops such a job instead of synthesising it.
        self._cancelled_ids: deque[str] = deque(maxlen=512)
        self._streams = 0  # requests producing through this worker now (see load())
        self._thread = threading.Thread(target=self._main, name=f"engine-{engine.name}", daemon=True)

    def start(self) -> EngineWorker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._jobs.put(None)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until warm; re-raise the load error if loading failed."""
        if not self.ready.wait(timeout):
            raise TimeoutError(f"engine {self.engine.name} not ready after {timeout} s")
        if self.error is not None:
            raise self.error

    @contextlib.contextmanager
    def streaming(self) -> Iterator[None]:
        """Counts a request producing through this worker while the block runs (see share_count)."""
        with self._lock:
            self._streams += 1
        try:
            yield
        finally:
            with self._lock:
                self._streams -= 1

    def share_count(self) -> int:
        """How many streams share this engine now: each gets about 1/load of its compute, so its planner
        must size phrases for an RTF that many times higher (a server with concurrent clients)."""
        return max(1, self._streams) if self.schedule == "deadline" else 1

    def submit(self, job: Job) -> None:
        if job.deadline_ns == 0:
            job.deadline_ns = now_ns()
        with self._lock:
            if job.request_id in self._cancelled_ids:
                return
            self._pending.append(job)
        self._jobs.put(job)

    def _next_job(self) -> Job | None:
        """Earliest deadline first: a new stream's first phrase (deadline: now) goes ahead of phrases of
        streams that still have seconds of audio queued; with one stream this is plain FIFO."""
        live = [j for j in self._pending if not j.cancelled]
        if not live:
            self._pending.clear()
            return None
        job = min(live, key=lambda j: j.deadline_ns) if self.schedule == "deadline" else live[0]
        self._pending.remove(job)
        return job

    def cancel(self, request_id: str, on_idle: Callable[[int], None]) -> None:
        with self._lock:
            self._cancelled_ids.append(request_id)
            for job in self._pending:
                if job.request_id == request_id:
                    job.cancelled = True
            cur = self._current
            if cur is not None and cur.request_id == request_id:
                cur.cancelled = True
                self._idle_waiters.setdefault(request_id, []).append(on_idle)
                if cur.abortable:
                    self.engine.cancel()
                return
        on_idle(now_ns())  # nothing of it is running: idle for this request right now

    def is_idle(self) -> bool:
        """Nothing running and nothing queued (what a server checks after a client went away)."""
        with self._lock:
            return self._current is None and not any(not j.cancelled for j in self._pending)

    def observe(self, compute_ns: int, audio_s: float, cache: list[tuple[str, bool]], chars: int) -> None:
        if audio_s <= 0.05 or chars <= 0 or any(name == "phrase_audio" and hit for name, hit in cache):
            return
        rtf = compute_ns / 1e9 / audio_s
        self.rtf_est = 0.7 * self.rtf_est + 0.3 * rtf
        self.sec_per_char_est = 0.7 * self.sec_per_char_est + 0.3 * (audio_s / chars)

    def _main(self) -> None:
        try:
            self.state = "loading"
            self.engine.load()
            self.state = "warming"
            self.engine.warm()
            probe = "This is a warm-up sentence for the voice."
            res = self.engine.synthesize(probe, self.engine.default_voice, 1.0, use_cache=False)
            audio_s = max(len(res.audio) / res.rate, 1e-3)
            self.rtf_est = res.compute_ns / 1e9 / audio_s
            self.sec_per_char_est = audio_s / len(probe)
            self.state = "ready"
        except BaseException as exc:
            self.error = exc
            self.state = "error"
        finally:
            self.ready.set()
        while True:
            token = self._jobs.get()  # one token per submitted job: which job runs is chosen below
            if token is None:
                return
            with self._lock:
                job = self._next_job()
                if job is None:
                    continue
                self._current = job
                self.engine.clear_cancel()
            result: SynthResult | None = None
            totals: tuple[int, float, list[tuple[str, bool]]] = (0, 0.0, [])
            error: BaseException | None = None
            if self.error is not None:
                error = self.error
            else:
                job.on_start(now_ns())
                try:
                    result, totals = self._run_pieces(job)
                except SynthesisCancelled as exc:
                    error = exc
                except Exception as exc:  # a failing run fails its request; the worker serves the next
                    error = exc
            t_end = now_ns()
            with self._lock:
                self._current = None
                waiters = self._idle_waiters.pop(job.request_id, [])
                cancelled = job.cancelled
            for w in waiters:
                w(t_end)
            if not cancelled:
                if result is not None:
                    self.observe(*totals, len(job.text))
                job.on_done(result, error, t_end)

    def _run_pieces(self, job: Job) -> tuple[SynthResult | None, tuple[int, float, list[tuple[str, bool]]]]:
        """The engine's pieces of the phrase: all but the last to `on_piece` as they come (or joined); and the
        phrase's totals (compute ns, audio s, cache lookups) for the estimates."""
        held: list[SynthResult] = []
        compute, audio_s = 0, 0.0
        cache: list[tuple[str, bool]] = []
        for piece in self.engine.synthesize_pieces(job.text, job.voice, job.speed, due_ns=job.deadline_ns,
                                                   stream=job.stream):
            compute += piece.compute_ns
            audio_s += len(piece.audio) / piece.rate
            cache += piece.cache
            if not piece.last and job.on_piece is not None and not job.cancelled:
                job.on_piece(piece)  # on at once: the listener may be waiting for it
            else:
                held.append(piece)
        totals = (compute, audio_s, cache)
        if len(held) <= 1:
            return (held[0] if held else None), totals
        prev = held[-1]
        return SynthResult(np.concatenate([h.audio for h in held]), prev.rate, sum(h.compute_ns for h in held),
                           [c for h in held for c in h.cache], held[0].word_times), totals
