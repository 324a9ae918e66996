"""A session ties planner → warm worker → player → trace for each request, and owns the cancel path.

Per request a feeder thread runs the request's source (a local worker through `produce`, or a remote
server) and moves its chunks into the ring. A pump thread turns the player's callback records into trace
events and closes requests: DONE when the last sample left the callback, CANCEL_ACK when the callback has
taken the flush *and* the engine is idle for the request."""

from __future__ import annotations

import itertools
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..audio.player import K_END, K_FLUSH, K_PLAY, K_UNDERRUN, Player, PlayerEvent
from ..audio.shaping import sound_end, sound_start, voiced_offset
from ..contract import AudioArray, Ev, TtsChunk
from ..errors import UserError
from ..text.normalize import clean_input
from ..text.planner import PlannerConfig
from .metrics import RequestMetrics, derive
from .pipeline import StreamJob
from .trace import Trace, now_ns
from .worker import EngineWorker

MIN_SPEED, MAX_SPEED = 0.5, 2.0
KEEP_FINISHED = 256  # finished requests kept for metrics queries; older ones are forgotten


@dataclass(eq=False)
class Request:
    id: str
    tag: int
    text: str
    engine: str
    voice: str
    speed: float
    trace: Trace
    finished: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    outcome: str | None = None
    error: str | None = None
    skipped: list[str] = field(default_factory=list)  # phrases with nothing speakable
    flush_seq: int = 0
    flush_ev: PlayerEvent | None = None
    idle_t: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The ring has one producer: requests write in submit order, each after the previous one's last chunk.
    prev_written: threading.Event | None = None
    written: threading.Event = field(default_factory=threading.Event)
    last_play: Any = None  # the PLAY event the pump may still extend (contiguous playback)


def check_speed(speed: float) -> float:
    number = isinstance(speed, int | float) and not isinstance(speed, bool)  # JSON true is not a speed
    if not number or not math.isfinite(speed) or not MIN_SPEED <= speed <= MAX_SPEED:
        raise UserError(f"speed {speed!r} is out of range", f"use a number from {MIN_SPEED} to {MAX_SPEED}")
    return float(speed)


class Session:
    def __init__(self, player: Player, workers: dict[str, EngineWorker],
                 planner_configs: dict[str, PlannerConfig] | None = None,
                 on_chunk: Callable[[TtsChunk], None] | None = None) -> None:
        """`on_chunk` receives each chunk (device rate) once it is in the ring, on the request's feeder
        thread: a window or a server can follow the stream without touching the player."""
        self.player = player
        self.on_chunk = on_chunk
        self.workers = workers
        self.planner_configs = planner_configs or {}
        self.use_cache = True  # the phrase-audio cache; the benchmark compares strategies without it
        self._requests: dict[str, Request] = {}
        self._by_tag: dict[int, Request] = {}
        self._tags = itertools.count(1)
        self._lock = threading.Lock()  # guards the request tables against the pump thread
        self._awaiting_flush: list[Request] = []
        self._last_written: threading.Event | None = None
        self._closing = threading.Event()
        self._pump = threading.Thread(target=self._pump_main, name="trace-pump", daemon=True)
        self._pump.start()

    # ---- public API ---------------------------------------------------------------------------------
    def submit(self, text: str, engine: str, voice: str | None = None, speed: float = 1.0,
               t_submit_ns: int | None = None) -> Request:
        """Accept a request (the moment TTFA counts from) and return at once."""
        t_submit = now_ns() if t_submit_ns is None else t_submit_ns
        text = clean_input(text)
        speed = check_speed(speed)
        worker = self.workers.get(engine)
        if worker is None:
            raise UserError(f"engine {engine!r} is not running", "choose one of: " + ", ".join(self.workers))
        eng = worker.engine
        voice = voice or eng.default_voice
        if worker.ready.is_set() and worker.error is None:
            eng.check_voice(voice)
        rid = uuid.uuid4().hex[:12]
        tag = next(self._tags)
        self.player.ring.revive(tag)
        req = Request(rid, tag, text, engine, voice, speed, Trace(rid))
        req.trace.add(Ev.SUBMIT, t_submit, engine=engine, voice=voice, text_chars=len(text),
                      device_rate=self.player.rate, speed=speed)
        with self._lock:
            self._forget_old()
            self._requests[rid] = req
            self._by_tag[tag] = req
            req.prev_written, self._last_written = self._last_written, req.written
        threading.Thread(target=self._feed, args=(req,), name=f"feed-{rid}", daemon=True).start()
        return req

    def cancel(self, request_id: str) -> bool:
        """Barge-in. Returns False when the request had already ended (nothing to cancel)."""
        t = now_ns()
        req = self._requests[request_id]
        with req.lock:
            if req.finished.is_set() or req.stop.is_set():
                return False
            req.trace.add(Ev.CANCEL, t)
            req.stop.set()
            with self._lock:
                req.flush_seq = self.player.flush(req.tag)  # silence first: the next callback fades it out
                self._awaiting_flush.append(req)
        self.workers[req.engine].cancel(req.id, lambda t_idle: self._engine_idle(req, t_idle))
        return True

    def fail(self, request_id: str, message: str) -> None:
        """End a request with an error from outside (its device went away): silence it, fail it."""
        req = self._requests[request_id]
        self.workers[req.engine].cancel(req.id, lambda t: None)
        self._fail(req, message)

    def wait(self, request_id: str, timeout: float | None = None) -> bool:
        return self._requests[request_id].finished.wait(timeout)

    def request(self, request_id: str) -> Request:
        return self._requests[request_id]

    def metrics(self, request_id: str) -> RequestMetrics:
        req = self._requests[request_id]
        m = derive(req.trace)
        if m.error is None and req.error:
            m.error = req.error
        return m

    def _forget_old(self) -> None:
        finished = [r for r in self._requests.values() if r.finished.is_set()]
        for r in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del self._requests[r.id]
            self._by_tag.pop(r.tag, None)

    def request_ids(self) -> set[str]:
        with self._lock:
            return set(self._requests)

    def close(self) -> None:
        """Cancel what is unfinished and give the callback a moment to take the flush (so the cancel is
        acknowledged and measured); anything still open after that fails with a message, so no request
        is left running forever."""
        with self._lock:
            pending = [r for r in self._requests.values() if not r.finished.is_set()]
        for req in pending:
            self.cancel(req.id)
        for req in pending:
            req.finished.wait(0.5)
        self._closing.set()
        self._pump.join(timeout=2)
        for req in pending:
            if not req.finished.is_set():
                self._fail(req, "the output closed before the cancel was acknowledged")

    # ---- the feeder ----------------------------------------------------------------------------------
    def _feed(self, req: Request) -> None:
        try:
            self._feed_inner(req)
        except UserError as exc:
            self._fail(req, str(exc))
        except Exception as exc:  # an unexpected fault fails this request only, with its message
            self._fail(req, f"{type(exc).__name__}: {exc}")
        finally:
            req.written.set()  # the next request may use the ring now

    def _feed_inner(self, req: Request) -> None:
        job = StreamJob(req.id, req.text, req.voice, req.speed, req.trace, req.stop, self.player.rate,
                        lambda: self.player.queued_ms() / 1000, self.planner_configs.get(req.engine), req.skipped,
                        use_cache=self.use_cache)
        self.workers[req.engine].stream(job, lambda i, audio, final: self._write(req, i, audio, final))

    def _write(self, req: Request, index: int, audio: AudioArray, final: bool) -> None:
        prev = req.prev_written
        while prev is not None and not prev.wait(0.05):
            if req.stop.is_set():
                return
        t_ready = self.player.write(req.tag, index, audio, last=final, should_stop=req.stop)
        if t_ready is None:
            return
        ready = req.trace.add(Ev.CHUNK_READY, t_ready, index=index, samples=len(audio),
                              voiced_offset=voiced_offset(audio), sound_start=sound_start(audio),
                              sound_end=sound_end(audio))
        if self.on_chunk is not None:
            started = req.trace.of(Ev.SYNTH_START)
            t_start = next((e.t_ns for e in started if e.data["index"] == index), ready.t_ns)
            self.on_chunk(TtsChunk(req.id, req.voice, audio, (t_start - req.trace.events[0].t_ns) / 1e6,
                                   index, final))

    def _fail(self, req: Request, message: str) -> None:
        with req.lock:
            if req.finished.is_set():
                return
            req.error = message
            req.trace.add(Ev.FAILED, error=message)
            req.stop.set()
        self.player.flush(req.tag)
        self._finish(req, "failed")

    def _finish(self, req: Request, outcome: str) -> None:
        req.outcome = outcome
        req.finished.set()

    # ---- cancel acknowledgement ------------------------------------------------------------------------
    def _engine_idle(self, req: Request, t_idle: int) -> None:
        with req.lock:
            req.idle_t = t_idle
            req.trace.add(Ev.ENGINE_IDLE, t_idle)
        self._maybe_ack(req)

    def _maybe_ack(self, req: Request) -> None:
        with req.lock:
            if req.finished.is_set() or req.flush_ev is None or req.idle_t is None:
                return
            req.trace.add(Ev.CANCEL_ACK, max(req.flush_ev.t_cb_ns, req.idle_t))
        self._finish(req, "cancelled")

    # ---- the pump ------------------------------------------------------------------------------------
    def _pump_main(self) -> None:
        while True:
            closing = self._closing.is_set()
            for ev in self.player.drain():
                self._route(ev)
            if closing:
                return
            time.sleep(0.005)

    def _route(self, ev: PlayerEvent) -> None:
        if ev.kind == K_FLUSH:
            with self._lock:
                seen = [r for r in self._awaiting_flush if ev.chunk_index >= r.flush_seq]
                self._awaiting_flush = [r for r in self._awaiting_flush if r not in seen]
            for r in seen:
                r.flush_ev = ev
                r.trace.add(Ev.FLUSH_SEEN, ev.t_cb_ns, t_cb_ns=ev.t_cb_ns, dac_ns=ev.dac_ns)
                self._maybe_ack(r)
            return
        found = self._by_tag.get(ev.tag)
        if found is None:
            return
        req = found
        if ev.kind == K_PLAY:
            last = req.last_play
            # One record per stretch of gapless playback of a chunk (the trace would otherwise grow by ~94
            # records a second). After a cancel every piece is kept: stale-sample checks need each one.
            if (last is not None and not req.stop.is_set() and not ev.faded
                    and last.data["index"] == ev.chunk_index
                    and last.data["chunk_offset"] + last.data["n"] == ev.chunk_offset
                    and abs(last.data["dac_ns"] + last.data["n"] * 1e9 / self.player.rate - ev.dac_ns) < 1e6):
                last.data["n"] += ev.n
                return
            req.last_play = req.trace.add(Ev.PLAY, ev.t_cb_ns, index=ev.chunk_index, chunk_offset=ev.chunk_offset,
                                          n=ev.n, dac_ns=ev.dac_ns, t_cb_ns=ev.t_cb_ns, faded=ev.faded)
        elif ev.kind == K_UNDERRUN:
            req.trace.add(Ev.UNDERRUN, ev.t_cb_ns, frames=ev.chunk_index, dac_ns=ev.dac_ns)
        elif ev.kind == K_END:
            with req.lock:
                if req.finished.is_set() or req.stop.is_set():
                    return
                req.trace.add(Ev.DONE, ev.t_cb_ns, dac_ns=ev.dac_ns)
            self._finish(req, "done")
