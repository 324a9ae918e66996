"""The server's engine side, free of HTTP: warm engines (the app's own `LocalSource`s: planner, worker, engine),
admission (input limits, concurrent streams, rate per client), and per admitted request the app's own session
whose sink is the client's socket (`SocketSink`): the same pipeline, trace, cancel path and record.

A stream hands its items to the transport through `deliver` (called on the stream's thread; the transport
makes it thread-safe). Items: ("audio", index, final, pcm bytes, meta), ("done", summary),
("error", message, http status).
Audio is bounded per stream: the producer waits while MAX_UNSENT chunks are not yet sent, so a slow client
holds a little memory, not the whole text's audio."""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..contract import AudioArray, Cancel, EngineIdle, RequestMetrics, SynthEnd, SynthStart
from ..core.pipeline import LocalSource
from ..core.session import Request, Session, check_speed
from ..core.sink import StreamSink
from ..core.trace import Trace, now_ns
from ..engines.cache import LruCache
from ..errors import UserError
from ..remote.protocol import MAX_ID_CHARS, OPENAI_MODELS, OPENAI_VOICES, RATE, chunk_to_wire, to_pcm16
from ..text.normalize import clean_input
from .prometheus import ServerMetrics

MAX_UNSENT = 16
MAX_VOICE_CHARS = 200

Item = tuple[Any, ...]


class Rejected(Exception):
    """A request the server will not run: HTTP status, OpenAI error type and code, and a message."""

    def __init__(self, status: int, code: str, message: str, kind: str = "invalid_request_error",
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.kind = kind
        self.param = param
        self.message = message


@dataclass
class Limits:
    max_streams: int = 8  # concurrent streams over all clients; more get 429 `busy`
    max_chars: int = 10_000  # per request (OpenAI's own limit is 4 096)
    per_minute: int = 120  # requests per client address per minute; more get 429 `rate_limited`


class RateLimiter:
    """Sliding window per client: at most `per_minute` requests in any 60 s."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            q = self._seen.setdefault(client, deque())
            while q and now - q[0] > 60.0:
                q.popleft()
            if len(q) >= self.per_minute:
                return False
            q.append(now)
            if len(self._seen) > 10_000:  # forget idle clients so the table stays small
                self._seen = {k: v for k, v in self._seen.items() if v}
            return True


class SpeechService:
    def __init__(self, engine_ids: list[str], device: str = "cpu", limits: Limits | None = None,
                 sources: dict[str, LocalSource] | None = None, schedule: str = "deadline") -> None:
        """`sources`: warm local sources by engine id (tests share theirs); otherwise one is loaded per engine id."""
        if not engine_ids:
            raise UserError("no engine to serve", "pass --engines kokoro,piper")
        self.engine_ids = list(engine_ids)
        self.limits = limits or Limits()
        self.device = device
        self.sources: dict[str, LocalSource] = {}
        self._borrowed = set(sources or {})
        for eid in self.engine_ids:
            if sources and eid in sources:
                self.sources[eid] = sources[eid]
            else:
                self.sources[eid] = LocalSource.load(eid, device=device, schedule=schedule)
        self.metrics = ServerMetrics(self.active_count, self._caches)
        self._rate = RateLimiter(self.limits.per_minute)
        self._active: dict[str, ServerStream] = {}
        self._lock = threading.Lock()

    # ---- catalog -------------------------------------------------------------------------------------
    @property
    def default_engine(self) -> str:
        return self.engine_ids[0]

    def _caches(self) -> list[tuple[str, LruCache[Any]]]:
        """(engine id, cache) of every engine, for the scrape."""
        out = []
        for eid, src in self.sources.items():
            out += [(eid, c) for c in src.engine.caches()]
        return out

    def ready_engines(self) -> list[str]:
        return [e for e in self.engine_ids if self.sources[e].state == "ready"]

    def wait_ready(self, timeout: float) -> None:
        for w in self.sources.values():
            w.ready.wait(timeout)

    def health(self) -> dict[str, Any]:
        engines = {e: {"state": w.state, "error": None if w.error is None else str(w.error)}
                   for e, w in self.sources.items()}
        ok = any(v["state"] == "ready" for v in engines.values())
        return {"status": "ok" if ok else "starting", "engines": engines, "active_streams": self.active_count(),
                "max_streams": self.limits.max_streams, "device": self.device}

    def models(self) -> list[dict[str, Any]]:
        return [{"id": e, "object": "model", "owned_by": "voicetrace", "state": self.sources[e].state,
                 "native_sample_rate": self.sources[e].engine.rate} for e in self.engine_ids]

    def voices(self) -> list[dict[str, Any]]:
        out = []
        ready = self.ready_engines()
        for e in ready:
            eng = self.sources[e].engine
            for v in eng.voices():
                out.append({"id": v, "engine": e, "language": _language_of(e, v), "sample_rate": RATE,
                            "default": e == ready[0] and v == eng.default_voice})
        return out

    def resolve(self, model: Any, voice: Any) -> tuple[str, str]:
        """(engine id, voice id) for a request's model and voice, or Rejected. Voices are only ever looked up
        in the engines' own lists: a name never reaches the filesystem."""
        if model is not None and not isinstance(model, str):
            raise Rejected(400, "invalid_type", "model must be a string", param="model")
        if voice is not None and not isinstance(voice, str):
            raise Rejected(400, "invalid_type", "voice must be a string", param="voice")
        engine: str | None = None
        if model and model not in OPENAI_MODELS:
            if model not in self.sources:
                raise Rejected(404, "model_not_found", f"model {model[:80]!r} is not served here; "
                               f"choose one of: {', '.join(self.engine_ids)}", param="model")
            engine = model
        if not voice or voice in OPENAI_VOICES:
            engine = engine or self.default_engine
            return engine, self.sources[engine].engine.default_voice
        if len(voice) > MAX_VOICE_CHARS:
            raise Rejected(400, "invalid_voice", "voice name is too long", param="voice")
        candidates = [engine] if engine else self.engine_ids
        last: UserError | None = None
        for e in candidates:
            w = self.sources[e]
            if w.state != "ready":
                continue
            try:
                w.engine.check_voice(voice)
                return e, voice
            except UserError as exc:
                last = exc
        if last is None:
            raise Rejected(503, "engine_unavailable", "the engine is not ready yet (loading); try again shortly",
                           kind="server_error")
        raise Rejected(400, "invalid_voice", f"unknown voice {voice[:80]!r}; GET /v1/voices lists them",
                       param="voice")

    # ---- streams -------------------------------------------------------------------------------------
    def active_count(self) -> int:
        with self._lock:
            return len(self._active)

    def open(self, *, text: Any, model: Any, voice: Any, speed: Any, client: str, transport: str,
             deliver: Callable[[Item], None], request_id: str | None = None, stream_input: bool = False
             ) -> ServerStream:
        """Admit and start one stream, or raise Rejected (nothing started). `stream_input`: its text comes in
        pieces (`ServerStream.feed` / `flush` / `end`); `text` is then optional, its first piece."""
        t_received = now_ns()
        if not self._rate.allow(client):
            self.metrics.rejected(transport, "rate_limited")
            raise Rejected(429, "rate_limited", f"more than {self.limits.per_minute} requests a minute from "
                           "this client; slow down", kind="rate_limit_error")
        try:
            if stream_input and text is None:
                text = ""
            if not isinstance(text, str):
                raise Rejected(400, "invalid_type", "input must be a string", param="input")
            if len(text) > self.limits.max_chars:
                raise Rejected(400, "text_too_long", f"input is {len(text):,} characters, over the maximum of "
                               f"{self.limits.max_chars:,} on this server; split it", param="input")
            if not stream_input:
                try:
                    text = clean_input(text)
                except UserError as exc:
                    raise Rejected(400, "invalid_input", str(exc), param="input") from exc
            if speed is None:
                speed = 1.0
            try:
                speed = check_speed(speed)
            except UserError as exc:
                raise Rejected(400, "invalid_speed", str(exc), param="speed") from exc
            engine, voice_id = self.resolve(model, voice)
            if self.sources[engine].state == "error":
                raise Rejected(503, "engine_unavailable", f"engine {engine} failed to load: "
                               f"{self.sources[engine].error}", kind="server_error")
            rid = request_id or uuid.uuid4().hex[:12]
            if not isinstance(rid, str) or not 0 < len(rid) <= MAX_ID_CHARS or not rid.isprintable():
                raise Rejected(400, "invalid_request_id", f"request_id must be 1–{MAX_ID_CHARS} printable "
                               "characters", param="request_id")
            with self._lock:
                if rid in self._active:
                    raise Rejected(409, "duplicate_request_id", f"request {rid!r} is already streaming")
                if len(self._active) >= self.limits.max_streams:
                    raise Rejected(429, "busy", f"the server is streaming its maximum of "
                                   f"{self.limits.max_streams} requests; retry shortly", kind="rate_limit_error")
                stream = ServerStream(self, rid, engine, text, voice_id, speed, transport, deliver, t_received,
                                      stream_input)
                self._active[rid] = stream
        except Rejected as exc:
            self.metrics.rejected(transport, exc.code)
            raise
        self.metrics.started()
        stream.start()
        return stream

    def _release(self, stream: ServerStream) -> None:
        """Free the stream's slot: it ended, or it was stopped and the engine no longer works for it."""
        with self._lock:
            self._active.pop(stream.id, None)

    def _ended(self, stream: ServerStream) -> None:
        self._release(stream)
        self.metrics.ended(stream.engine, stream.transport, stream.outcome or "unknown", stream.record())

    def close(self) -> None:
        with self._lock:
            streams = list(self._active.values())
        for s in streams:
            s.abort()
        for e, w in self.sources.items():
            if e not in self._borrowed:
                w.stop()


class SocketSink(StreamSink):
    """A sink whose consumer is one client's transport: each chunk is handed to `deliver` as s16le PCM with its
    metadata, at most MAX_UNSENT not yet sent (`sent()` frees a slot), so a slow client holds a few chunks."""

    def __init__(self, stream: ServerStream) -> None:
        super().__init__(RATE, max_unsent=MAX_UNSENT, name="socket")
        self.stream = stream
        self._credits = threading.Semaphore(MAX_UNSENT)
        self._sent_s = 0.0
        self._t_first_sent: float | None = None

    def write(self, tag: int, chunk_index: int, audio: AudioArray, last: bool,
              should_stop: threading.Event | None = None) -> int | None:
        while not self._credits.acquire(timeout=0.05):
            if should_stop is not None and should_stop.is_set():
                return None
        if tag in self._dead or (should_stop is not None and should_stop.is_set()):
            self._credits.release()
            return None
        t = now_ns()
        self.stream.hand_over(t, chunk_index, audio, last)
        return t

    def sent(self, samples: int) -> None:
        if self._t_first_sent is None:
            self._t_first_sent = time.perf_counter()
        self._sent_s += samples / RATE
        self._credits.release()

    def queued_s(self) -> float:
        # Estimated, not observed: a streaming client plays in real time from the first chunk on, so what is sent
        # and not yet played is what it has buffered (for a client that saves to a file this is conservative).
        if self._t_first_sent is None:
            return 0.0
        return max(0.0, self._sent_s - (time.perf_counter() - self._t_first_sent))


class ServerStream:
    """One admitted request: a session (the app's own) whose sink is the client's socket."""

    def __init__(self, service: SpeechService, rid: str, engine: str, text: str, voice: str, speed: float,
                 transport: str, deliver: Callable[[Item], None], t_received: int, stream_input: bool = False
                 ) -> None:
        self.service = service
        self.id = rid
        self.engine = engine
        self.voice = voice
        self.text = text
        self.speed = speed
        self.transport = transport
        self.deliver = deliver
        self.t_received = t_received
        self.stream_input = stream_input
        self.outcome: str | None = None  # done | cancelled | aborted | failed
        self.sink = SocketSink(self)
        self.session = Session(self.sink, {engine: service.sources[engine]}, on_end=self._ended)
        self._on_idle: Callable[[float], None] | None = None
        self._aborted = False
        self.request: Request | None = None
        # When the first chunk went to the transport (its CHUNK_READY is stamped by the same time, but the
        # transport may read the trace before the session has written it there)
        self.t_first_handed: int | None = None

    @property
    def req(self) -> Request:
        """The session's request. Its feeder thread may hand the first chunk over (or end it) before `start`
        has stored it — under load it did, and the chunk's hand-over failed the request — so it is looked up
        by id then (the session registers it before its thread starts)."""
        req = self._lookup()
        if req is None:
            raise RuntimeError(f"request {self.id} is not started yet")
        return req

    def _lookup(self) -> Request | None:
        if self.request is None and self.id in self.session.request_ids():
            self.request = self.session.request(self.id)
        return self.request

    @property
    def trace(self) -> Trace:
        return self.req.trace

    def start(self) -> None:
        if self.stream_input:
            self.request = self.session.open(self.engine, self.voice, self.speed, t_submit_ns=self.t_received,
                                             request_id=self.id)
            if self.text:
                self.feed(self.text)
        else:
            self.request = self.session.submit(self.text, self.engine, self.voice, self.speed,
                                               t_submit_ns=self.t_received, request_id=self.id)

    # ---- streamed text (UserError: after end, after a cancel, not a string, over the limit) -----------
    def feed(self, text: Any) -> None:
        if not self.stream_input:
            raise UserError("this request was started with its whole text", "start it with stream_input: true")
        if isinstance(text, str) and len(self.req.text_feed.text) + len(text) > self.service.limits.max_chars:
            raise UserError(f"the text is over the maximum of {self.service.limits.max_chars:,} characters on "
                            "this server", "end this request and start another")
        self.req.feed(text)

    def flush(self) -> None:
        self.req.flush()

    def end(self) -> None:
        self.req.end()

    # ---- producing -----------------------------------------------------------------------------------
    def hand_over(self, t_ns: int, index: int, audio: AudioArray, final: bool) -> None:
        """The sink's write: one chunk to the transport, with what the client shows of it."""
        out = self.req.output
        phrase = out.phrase_of(index)
        meta = chunk_to_wire(index, len(audio), final, (t_ns - self.t_received) / 1e6, out.piece(index),
                             out.phrase(phrase), out.synth_end(phrase))
        if self.t_first_handed is None:
            self.t_first_handed = t_ns
        self.deliver(("audio", index, final, to_pcm16(audio), meta))

    def sent(self, samples: int) -> None:
        """The transport sent one audio item: free its slot, and count what the listener has queued."""
        self.sink.sent(samples)

    def _ended(self, req: Request) -> None:
        """The session closed the request (on one of its threads; it may end before `start` has stored it)."""
        if self.request is None:
            self.request = req
        if req.outcome == "done":
            self.outcome = "done"
            self.deliver(("done", self.summary()))
        elif req.outcome == "failed":
            self.outcome = "failed"
            msg = req.error or "synthesis failed"
            self.deliver(("error", msg if req.user_error else f"synthesis failed: {msg}",
                          400 if req.user_error else 500))
        else:
            self.outcome = "aborted" if self._aborted else "cancelled"
            idle = req.trace.first(EngineIdle)
            cancel = req.trace.first(Cancel)
            ms = round((idle.t_ns - cancel.t_ns) / 1e6, 3) if idle and cancel else 0.0
            if self._on_idle is not None:
                self.service.metrics.cancelled(self.engine, ms / 1000)
                self._on_idle(ms)
        self.service._ended(self)
        threading.Thread(target=self.session.close, name=f"close-{self.id}", daemon=True).start()

    # ---- stopping -------------------------------------------------------------------------------------
    def cancel(self, on_idle: Callable[[float], None], played_ms: float | None = None) -> None:
        """Stop producing and free the engine; `on_idle(server_cancel_ms)` once it no longer works for us.
        `played_ms`: how much of the audio sent the client played (then `heard()` is the words of that much)."""
        self._on_idle = on_idle
        req = self._lookup()
        if req is None or not req.cancel(played_ms):
            on_idle(0.0)  # it had ended (or never started): nothing runs for it

    def heard(self) -> dict[str, Any]:
        """The words of the audio the client played (or was sent), as the cancelled message carries them."""
        m = self.session.record(self.req)
        return {"heard_text": m.heard_text, "heard_ms": m.heard_ms, "heard_exact": m.heard_exact}

    def abort(self) -> None:
        """The client went away: stop at once, nobody to acknowledge to."""
        self._aborted = True
        req = self._lookup()
        if req is not None:
            req.cancel()

    def record(self) -> RequestMetrics:
        return self.session.record(self.req)

    def summary(self) -> dict[str, Any]:
        """What `done` reports: read from the request's record (`RequestMetrics`), as /metrics counts it."""
        m = self.record()
        return {"server_ttfa_ms": m.first_chunk_ms, "compute_ms": m.compute_ms, "audio_ms": m.audio_ms,
                "rtf": m.rtf, "chunks": len(m.chunks)}

    def first_audio_timings(self) -> dict[str, Any]:
        """Where the server's part of TTFA went: waiting for the worker, synthesising, handing over."""
        ev = self.trace.events
        t0 = ev[0].t_ns
        start = next((e.t_ns for e in ev if isinstance(e, SynthStart)), None)
        end = next((e for e in ev if isinstance(e, SynthEnd)), None)
        ready = self.t_first_handed
        return {"server_ttfa_ms": round((ready - t0) / 1e6, 3) if ready else None,
                "queue_ms": round((start - t0) / 1e6, 3) if start else None,
                "synth_ms": round((end.t_ns - start) / 1e6, 3) if end and start else None,
                "first_chunk_cached": bool(end and any(n == "phrase_audio" and h for n, h in end.cache))}


def _language_of(engine: str, voice: str) -> str:
    if engine.startswith("piper"):
        return "en-US"
    # Kokoro voice ids start with a language letter (a: American, b: British, j: Japanese-trained, ...);
    # the packaged Japanese-trained voices speak English here, so the language is what they say: English.
    return {"a": "en-US", "b": "en-GB"}.get(voice[:1], "en")
