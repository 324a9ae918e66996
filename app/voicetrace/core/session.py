"""A session joins chunk sources (engines) to one audio sink, owns each request's trace and the cancel path,
and takes the one typed record of each finished request.

Per request a feeder thread runs the request's source and moves its chunks into the sink, in submit order. For
a sink that plays (the player), a pump thread turns its callback records into trace events and closes
requests: `Done` when the last sample left the callback, `CancelAck` when the callback has taken the drop
*and* the source is idle for the request. For a sink that does not play (a socket, an iterator, a file),
`Done` is the last chunk handed over and a drop is taken at once.

A record is taken once the request has *settled* (`SETTLE_S` after its end): a sample of a cancelled request
played after its acknowledgement would show in the trace by then, and be counted."""

from __future__ import annotations

import dataclasses
import itertools
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..audio.shaping import sound_end, sound_start, voiced_offset
from ..contract import (
    K_END,
    K_FLUSH,
    K_PAUSE,
    K_PLAY,
    K_RESUME,
    K_UNDERRUN,
    AudioArray,
    Cancel,
    CancelAck,
    ChunkReady,
    Done,
    EngineIdle,
    Failed,
    FlushSeen,
    Pause,
    Play,
    PlaybackEvent,
    RequestMetrics,
    Resume,
    Submit,
    Text,
    TtsChunk,
    Underrun,
)
from ..errors import UserError
from ..text.feed import TextFeed
from ..text.normalize import clean_input
from .metrics import derive
from .pipeline import LocalSource
from .report import peak_rss_mb
from .sink import AudioSink
from .source import ChunkSource, SourceJob, SourceOutput
from .trace import Trace, now_ns
from .watchdog import stall_message, stalled_s

MIN_SPEED, MAX_SPEED = 0.5, 2.0
KEEP_FINISHED = 256  # finished requests kept for metrics queries; older ones are forgotten
READ_AHEAD_S = 20.0  # a sink that plays: synthesis keeps at most this much audio queued (see SourceJob)
SETTLE_S = 0.15  # a request's record is taken this long after it ended (see the module docstring)
# Tags are unique in the process, not per session: sessions may share one sink (the benchmark's strategies
# share a player), and a tag reused while the ring still fades the old one's audio would cut without a fade.
_TAGS = itertools.count(1)


@dataclass(eq=False)
class Request:
    id: str
    tag: int
    text: str
    engine: str
    voice: str
    speed: float
    trace: Trace
    session: Session
    finished: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    outcome: str | None = None
    error: str | None = None
    user_error: bool = False  # the failure is the request's own (bad voice, ...), not a fault of the engine
    skipped: list[str] = field(default_factory=list)  # phrases with nothing speakable
    cold: bool = False  # submitted before its engine was warm
    drop_seq: int = 0
    flush_ev: PlaybackEvent | None = None
    idle_t: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The sink has one producer: requests write in submit order, each after the previous one's last chunk.
    prev_written: threading.Event | None = None
    written: threading.Event = field(default_factory=threading.Event)
    last_play: Play | None = None  # the PLAY event the pump may still extend (contiguous playback)
    text_feed: TextFeed = field(default_factory=TextFeed)  # its text: whole, or arriving (see `open`)
    # what its source reports through (and what the session and the server ask of a chunk); set by `_start`
    output: SourceOutput = field(init=False)

    # ---- streamed text ---------------------------------------------------------------------------------
    def feed(self, text: str) -> None:
        """Append text to a request opened without it. UserError after end(), a cancel, or for a non-string."""
        self._text_event("feed", text)

    def flush(self) -> None:
        """Speak what was fed so far now, its last word included (the sender says it is complete)."""
        self._text_event("flush")

    def end(self) -> None:
        """No more text: the request ends once what was fed has been spoken."""
        self._text_event("end")

    def _text_event(self, what: str, text: str = "") -> None:
        feed = self.text_feed
        if self.stop.is_set() or self.finished.is_set():
            raise UserError(f"request {self.id} has {'been cancelled' if self.stop.is_set() else 'ended'}",
                            "open a new one")
        t = now_ns()
        if what == "feed":
            feed.feed(text, t)
        elif what == "flush":
            feed.flush()
        else:
            feed.end()
        self.trace.add(Text(t, self.id, what=what, piece=text, chars=len(feed.text)))

    def cancel(self, played_ms: float | None = None) -> bool:
        """Barge-in: silence it now and stop its source. False if it had already ended. `played_ms`: how much
        of its audio the listener got, when the sink cannot know (a client of a socket says so)."""
        return self.session.cancel(self.id, played_ms)

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)

    @property
    def t_submit_ns(self) -> int:
        submit = self.trace.first(Submit)  # the first event (no copy of the trace to read it)
        assert submit is not None, "the session writes SUBMIT before the request is handed out"
        return submit.t_ns

    def settled(self) -> bool:
        """Ended at least SETTLE_S ago: its record is final."""
        last = self.trace.last()
        return self.finished.is_set() and last is not None and now_ns() - last.t_ns >= SETTLE_S * 1e9

    def wait_settled(self, timeout: float | None = None) -> bool:
        if not self.finished.wait(timeout):
            return False
        last = self.trace.last()
        left = SETTLE_S - (now_ns() - (last.t_ns if last is not None else 0)) / 1e9
        if left > 0:
            time.sleep(left)
        return True

    def chunk(self, index: int, audio: AudioArray, final: bool, rate: int) -> TtsChunk:
        """One of its chunks in the seed's contract (its phrase's synthesis start, as its source reported it: ms after
        submit)."""
        start = self.output.synth_start(self.output.phrase_of(index))
        started = (start.t_ns - self.t_submit_ns) / 1e6 if start is not None else 0.0
        return TtsChunk(self.id, self.voice, audio, started, index, final, rate)

    def played_ms(self) -> float:
        """ms of its audio the sink has played so far (0 for a sink that does not play)."""
        return sum(e.n for e in self.trace.of(Play)) * 1000 / self.session.output.rate

    def result(self, timeout: float | None = None) -> RequestMetrics:
        """Wait until it ended and settled, then its record. TimeoutError if it has not ended in `timeout`."""
        if not self.wait_settled(timeout):
            raise TimeoutError(f"request {self.id} still running after {timeout} s")
        return self.session.record(self)


def check_speed(speed: float) -> float:
    number = isinstance(speed, int | float) and not isinstance(speed, bool)  # JSON true is not a speed
    if not number or not math.isfinite(speed) or not MIN_SPEED <= speed <= MAX_SPEED:
        raise UserError(f"speed {speed!r} is out of range", f"use a number from {MIN_SPEED} to {MAX_SPEED}")
    return float(speed)


class Session:
    def __init__(self, output: AudioSink, engines: Mapping[str, ChunkSource] | None = None,
                 on_chunk: Callable[[TtsChunk], None] | None = None,
                 loader: Callable[[str], ChunkSource] | None = None,
                 on_end: Callable[[Request], None] | None = None,
                 on_stall: Callable[[str], None] | None = None) -> None:
        """`engines`: sources by the name requests use (a dict is used as given: its owner may add to it). An
        engine not among them is loaded on first use by `loader` (by default: the catalog's model of that
        name, warmed on its own worker) and stopped by close().
        `on_chunk` receives each chunk once it is in the sink, on the request's feeder thread: a window or a
        server can follow the stream without touching the sink. `on_end` is called once per request when it
        ends (done, cancelled and acknowledged, or failed), on the thread that ended it. `on_stall` gets the
        message when the output's stream stopped calling back (core/watchdog.py), on the pump thread, after the
        live requests failed with it."""
        self.output = output
        self.on_chunk = on_chunk
        self.on_end = on_end
        self.on_stall = on_stall
        self.stall_error: str | None = None  # the last stall's message (the stream was reopened since if asked)
        self.engines: dict[str, ChunkSource] = engines if isinstance(engines, dict) else dict(engines or {})
        self._loader = loader
        self._loaded: list[ChunkSource] = []
        self._requests: dict[str, Request] = {}
        self._by_tag: dict[int, Request] = {}
        self._lock = threading.Lock()  # guards the request tables against the pump thread
        self._awaiting_flush: list[Request] = []
        self._unfinished: set[str] = set()  # requests not ended yet (the pump polls fast only while there are)
        self._last_written: threading.Event | None = None
        self._closing = threading.Event()
        self._pump: threading.Thread | None = None
        if output.plays:
            self._pump = threading.Thread(target=self._pump_main, name="trace-pump", daemon=True)
            self._pump.start()

    def __enter__(self) -> Session:
        start = getattr(self.output, "start", None)
        if start is not None:
            start()  # the stream runs (silence) before any request: no request waits for a device to open
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        close = getattr(self.output, "close", None)
        if close is not None:
            close()

    # ---- engines -------------------------------------------------------------------------------------
    def engine(self, name: str) -> ChunkSource:
        """The source called `name`, loading it now if it is not there (it warms on its own thread)."""
        with self._lock:
            src = self.engines.get(name)
            if src is None:
                src = LocalSource.load(name) if self._loader is None else self._loader(name)
                self.engines[name] = src
                self._loaded.append(src)
        return src

    # ---- public API ---------------------------------------------------------------------------------
    def speak(self, text: str, engine: str = "kokoro", voice: str | None = None, speed: float = 1.0) -> Request:
        """Accept a request (the moment TTFA counts from) and return at once; `.result()` gives its record."""
        return self.submit(text, engine, voice, speed)

    def open(self, engine: str = "kokoro", voice: str | None = None, speed: float = 1.0,
             t_submit_ns: int | None = None, request_id: str | None = None) -> Request:
        """A request whose text arrives in pieces: `feed()`, `flush()`, `end()` on it (a language model's reply).
        TTFA counts from here; `ttfa_from_first_text_ms` from the first piece fed."""
        return self._start(None, engine, voice, speed, t_submit_ns, request_id)

    def submit(self, text: str, engine: str, voice: str | None = None, speed: float = 1.0,
               t_submit_ns: int | None = None, request_id: str | None = None) -> Request:
        return self._start(clean_input(text), engine, voice, speed, t_submit_ns, request_id)

    def _start(self, text: str | None, engine: str, voice: str | None, speed: float, t_submit_ns: int | None,
               request_id: str | None) -> Request:
        t_submit = now_ns() if t_submit_ns is None else t_submit_ns
        speed = check_speed(speed)
        src = self.engine(engine)
        warm = src.ready.is_set() and src.error is None
        voice = voice or src.default_voice
        if warm:
            src.check_voice(voice)
        rid = request_id or uuid.uuid4().hex[:12]
        tag = next(_TAGS)
        self.output.open_tag(tag)
        self.resume()  # a new request is meant to be heard
        trace = Trace(rid)
        req = Request(rid, tag, text or "", engine, voice, speed, trace, self, cold=not src.ready.is_set(),
                      text_feed=TextFeed(text) if text is not None else TextFeed())
        req.output = SourceOutput(trace, lambda i, audio, final: self._write(req, i, audio, final))
        req.trace.add(Submit(t_submit, rid, engine=engine, voice=voice, text_chars=len(text or ""),
                             device_rate=self.output.rate, speed=speed, stream_input=text is None,
                             sink_plays=self.output.plays, events_lost=self.output.events_lost,
                             callback_errors=self.output.callback_errors))
        self._unfinished.add(rid)
        with self._lock:
            self._forget_old()
            self._requests[rid] = req
            self._by_tag[tag] = req
            req.prev_written, self._last_written = self._last_written, req.written
        threading.Thread(target=self._feed, args=(req,), name=f"feed-{rid}", daemon=True).start()
        return req

    def cancel(self, request_id: str, played_ms: float | None = None) -> bool:
        """Barge-in. Returns False when the request had already ended (nothing to cancel)."""
        t = now_ns()
        req = self._requests[request_id]
        with req.lock:
            if req.finished.is_set() or req.stop.is_set():
                return False
            req.trace.add(Cancel(t, req.id, played_ms=played_ms))
            req.stop.set()
            with self._lock:
                req.drop_seq = self.output.drop(req.tag)  # silence first: the next callback fades it out
                if self.output.plays:
                    self._awaiting_flush.append(req)
        if not self.output.plays:  # nothing is playing: the flush took effect when it returned
            t_flush = now_ns()
            self._flush_seen(req, PlaybackEvent(K_FLUSH, -1, t_flush, t_flush, drop_seq=req.drop_seq))
        self.engines[req.engine].cancel(req.id, lambda t_idle: self._engine_idle(req, t_idle))
        return True

    # ---- pause ---------------------------------------------------------------------------------------
    def pause(self) -> bool:
        """Hold playback of the whole output (what is queued waits; synthesis stops reading ahead once
        READ_AHEAD_S is queued). False when nothing is live to pause. UserError for a sink that
        does not play (its consumer paces itself)."""
        pause = getattr(self.output, "pause", None)
        if not self.output.plays or pause is None:
            raise UserError("this output does not play, so it cannot pause", "stop reading from it instead")
        if not self._unfinished:
            return False
        pause()
        return True

    def resume(self) -> bool:
        """Play on after `pause`. False when it was not paused."""
        if not self.paused:
            return False
        self.output.resume()  # type: ignore[attr-defined]
        return True

    @property
    def paused(self) -> bool:
        return bool(getattr(self.output, "paused", False))

    def fail(self, request_id: str, message: str) -> None:
        """End a request with an error from outside (its device went away): silence it, fail it."""
        req = self._requests[request_id]
        self.engines[req.engine].cancel(req.id, lambda t: None)
        self._fail(req, message)

    def wait(self, request_id: str, timeout: float | None = None) -> bool:
        return self._requests[request_id].finished.wait(timeout)

    def request(self, request_id: str) -> Request:
        return self._requests[request_id]

    def metrics(self, request_id: str) -> RequestMetrics:
        """The request's record now (it may still be running: see `Request.result` for the settled one)."""
        return self.record(self._requests[request_id])

    def record(self, req: Request) -> RequestMetrics:
        """The typed record: the trace's metrics plus where the request ran."""
        m = derive(req.trace)
        if m.error is None and req.error:
            m.error = req.error
        src = self.engines.get(req.engine)
        m.engine_load_ms = _r(src.load_ms) if src is not None else None
        m.warmup_ms = _r(src.warmup_ms) if src is not None else None
        m.peak_rss_mb = peak_rss_mb()
        m.device = self.output.device_name
        m.device_rate = self.output.rate
        m.output_latency_ms = round(self.output.output_latency_s * 1000, 3)
        m.dac_time_estimated = getattr(self.output, "dac_time_note", None)
        m.skipped_phrases = list(req.skipped)
        m.cold = req.cold
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
        """Cancel what is unfinished and give the sink a moment to take the drop (so the cancel is
        acknowledged and measured); anything still open after that fails with a message, so no request
        is left running forever. Engines the session loaded itself are stopped."""
        with self._lock:
            pending = [r for r in self._requests.values() if not r.finished.is_set()]
        for req in pending:
            self.cancel(req.id)
        for req in pending:
            req.finished.wait(0.5)
        self._closing.set()
        if self._pump is not None:
            self._pump.join(timeout=2)
        for req in pending:
            if not req.finished.is_set():
                self._fail(req, "the output closed before the cancel was acknowledged")
        for src in self._loaded:
            src.stop()

    # ---- the feeder ----------------------------------------------------------------------------------
    def _feed(self, req: Request) -> None:
        try:
            job = SourceJob(req.id, req.text, req.voice, req.speed, req.stop, self.output.rate,
                            self.output.queued_s, req.skipped, feed=req.text_feed,
                            read_ahead_s=READ_AHEAD_S if self.output.plays else float("inf"),
                            played_ms=req.played_ms)
            self.engines[req.engine].produce(job, req.output)
        except UserError as exc:
            req.user_error = True
            self._fail(req, str(exc))
        except Exception as exc:  # an unexpected fault fails this request only, with its message
            self._fail(req, f"{type(exc).__name__}: {exc}")
        finally:
            req.written.set()  # the next request may use the sink now

    def _write(self, req: Request, index: int, audio: AudioArray, final: bool) -> None:
        prev = req.prev_written
        while prev is not None and not prev.wait(0.05):
            if req.stop.is_set():
                return
        t_ready = self.output.write(req.tag, index, audio, last=final, should_stop=req.stop)
        if t_ready is None:
            return
        req.trace.add(ChunkReady(t_ready, req.id, index=index, samples=len(audio), voiced_offset=voiced_offset(audio),
                                 sound_start=sound_start(audio), sound_end=sound_end(audio)))
        if self.on_chunk is not None:
            self.on_chunk(req.chunk(index, audio, final, self.output.rate))
        if final and not self.output.plays:
            self._done(req, now_ns(), None)  # handed over whole: done for a sink that plays nothing

    def _fail(self, req: Request, message: str) -> None:
        with req.lock:
            if req.finished.is_set():
                return
            req.error = message
            req.trace.add(Failed(now_ns(), req.id, error=message, events_lost=self.output.events_lost,
                                 callback_errors=self.output.callback_errors))
            req.stop.set()
        self.output.drop(req.tag)
        self._finish(req, "failed")

    def _done(self, req: Request, t_ns: int, dac_ns: int | None) -> None:
        with req.lock:
            if req.finished.is_set() or req.stop.is_set():
                return
            req.trace.add(Done(t_ns, req.id, dac_ns=dac_ns, events_lost=self.output.events_lost,
                               callback_errors=self.output.callback_errors))
        self._finish(req, "done")

    def _finish(self, req: Request, outcome: str) -> None:
        req.outcome = outcome
        req.finished.set()
        self._unfinished.discard(req.id)
        if self.on_end is not None:
            self.on_end(req)

    # ---- cancel acknowledgement ------------------------------------------------------------------------
    def _engine_idle(self, req: Request, t_idle: int) -> None:
        with req.lock:
            req.idle_t = t_idle
            req.trace.add(EngineIdle(t_idle, req.id))
        self._maybe_ack(req)

    def _flush_seen(self, req: Request, ev: PlaybackEvent) -> None:
        req.flush_ev = ev
        req.trace.add(FlushSeen(ev.t_cb_ns, req.id, t_cb_ns=ev.t_cb_ns, dac_ns=ev.dac_ns))
        self._maybe_ack(req)

    def _maybe_ack(self, req: Request) -> None:
        with req.lock:
            if req.finished.is_set() or req.flush_ev is None or req.idle_t is None:
                return
            req.trace.add(CancelAck(max(req.flush_ev.t_cb_ns, req.idle_t), req.id,
                                    events_lost=self.output.events_lost, callback_errors=self.output.callback_errors))
        self._finish(req, "cancelled")

    # ---- the pump (a sink that plays) ------------------------------------------------------------------
    def _pump_main(self) -> None:
        while True:
            closing = self._closing.is_set()
            for ev in self.output.drain():
                self._route(ev)
            if closing:
                return
            stalled = stalled_s(self.output)
            if stalled is not None:
                self._stalled(stalled)
            # Every 5 ms while a request is live (records carry their own times, so this only bounds how soon a
            # request is closed); idle, 100 ms: an idle app must not wake 200 times a second.
            time.sleep(0.005 if self._unfinished else 0.1)

    def _stalled(self, seconds: float) -> None:
        """The stream stopped calling back: fail what is live with what happened and what to do (nothing
        waiting on its playback would ever end), and let the next request open a new stream."""
        message = stall_message(self.output.device_name, seconds)
        self.stall_error = message
        with self._lock:
            live = [r for r in self._requests.values() if not r.finished.is_set()]
        abandon = getattr(self.output, "abandon", None)
        if abandon is not None:
            abandon()  # the next request's open_tag/write opens a new stream
        if self.on_stall is not None:
            self.on_stall(message)  # before the requests end: whoever waits on one finds the message there
        for req in live:
            self.fail(req.id, message)

    def _route(self, ev: PlaybackEvent) -> None:
        if ev.kind == K_FLUSH:
            with self._lock:
                seen = [r for r in self._awaiting_flush if ev.drop_seq >= r.drop_seq]
                self._awaiting_flush = [r for r in self._awaiting_flush if r not in seen]
            for r in seen:
                self._flush_seen(r, ev)
            return
        if ev.kind in (K_PAUSE, K_RESUME):  # the whole output: every request still live
            with self._lock:
                live = [r for r in self._requests.values() if not r.finished.is_set()]
            for r in live:
                kind = Pause if ev.kind == K_PAUSE else Resume
                r.trace.add(kind(ev.t_cb_ns, r.id, dac_ns=ev.dac_ns))
            return
        found = self._by_tag.get(ev.tag)
        if found is None:
            return
        req = found
        if ev.kind == K_PLAY:
            last = req.last_play
            # One record per stretch of gapless playback of a chunk (the trace would otherwise grow by ~94
            # records a second): the stretch's event is replaced by a longer one, never changed in place.
            # After a cancel every piece is kept: stale-sample checks need each one.
            if (last is not None and not req.stop.is_set() and not ev.faded
                    and last.index == ev.chunk_index
                    and last.chunk_offset + last.n == ev.chunk_offset
                    and abs(last.dac_ns + last.n * 1e9 / self.output.rate - ev.dac_ns) < 1e6):
                req.last_play = req.trace.replace(last, dataclasses.replace(last, n=last.n + ev.n))
                return
            req.last_play = req.trace.add(Play(ev.t_cb_ns, req.id, index=ev.chunk_index, chunk_offset=ev.chunk_offset,
                                               n=ev.n, dac_ns=ev.dac_ns, t_cb_ns=ev.t_cb_ns, faded=ev.faded))
        elif ev.kind == K_UNDERRUN:
            req.trace.add(Underrun(ev.t_cb_ns, req.id, frames=ev.missing, dac_ns=ev.dac_ns))
        elif ev.kind == K_END:
            self._done(req, ev.t_cb_ns, ev.dac_ns)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)
