"""The remote chunk source: speech from a server on another machine, through the same session, sink and
trace as a local engine, so TTFA, cadence and cancel are measured the same way (at the audio callback).

- `ws://` / `wss://`: our own WebSocket protocol (`voicetrace serve`): several requests on one socket,
  audio frames tagged with their request, cancel acknowledged once the server's engine is idle.
- `http://` / `https://`: any OpenAI-compatible `POST /v1/audio/speech` server; the response's Content-Type
  picks the decoder (see decode.py); cancel closes the response.

What the client cannot see it does not invent: synthesis happens on the server, so a chunk's `SynthEnd` is
its arrival here, with the server's reported compute time (RTF) where the server reports it."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from ..contract import AudioArray
from ..core.source import OnIdle, Readiness, SourceJob, SourceOutput
from ..core.trace import now_ns
from ..errors import UserError
from .decode import decoder_for
from .protocol import OPENAI_VOICES, RATE, WireChunk, chunk_from_wire, from_pcm16, remote_from_wire, unpack_frame

STALL_S = 15.0  # no message from the server for this long during a request: it is stuck or gone
CANCEL_ACK_S = 3.0  # a cancel unacknowledged this long: the connection is dropped (the server then aborts)
CONNECT_S = 5.0
MIN_PIECE_SAMPLES = 960  # HTTP reads are coalesced into chunks of at least 40 ms (the first goes at once)


def _unreachable(url: str, exc: BaseException) -> UserError:
    return UserError(f"cannot reach the remote server at {url} ({type(exc).__name__}: {exc})",
                     "start it with `voicetrace serve` on that machine, or check the URL and the network")


def _http_base(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    for suffix in ("/v1/stream", "/v1/audio/speech", "/v1"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class _Resample:
    """Server audio (any rate) → the listener's rate, continuous across chunks."""

    def __init__(self, out_rate: int) -> None:
        self.out_rate = out_rate
        self._in_rate: int | None = None
        self._stream: Any = None

    def __call__(self, audio: AudioArray, rate: int, last: bool = False) -> AudioArray:
        if rate == self.out_rate:
            return audio
        if self._stream is None or self._in_rate != rate:
            import soxr

            self._in_rate = rate
            self._stream = soxr.ResampleStream(rate, self.out_rate, 1, dtype="float32", quality="HQ")
        return np.asarray(self._stream.resample_chunk(audio, last=last), dtype=np.float32)


def fetch_voices(base: str, headers: dict[str, str]) -> tuple[list[str], str | None]:
    """(voice ids, the default) from `GET /v1/voices` (ours), else Kokoro-FastAPI's `/v1/audio/voices`,
    else OpenAI's names (a server without a list, like OpenAI itself)."""
    import httpx

    for path in ("/v1/voices", "/v1/audio/voices"):
        try:
            r = httpx.get(base + path, headers=headers, timeout=CONNECT_S)
        except httpx.HTTPError as exc:
            raise _unreachable(base, exc) from exc
        if r.status_code in (401, 403):
            raise UserError(f"the remote server at {base} refused the token ({r.status_code})",
                            "pass the server's --token")
        if r.status_code != 200:
            continue
        try:
            items = r.json().get("voices", [])
        except (ValueError, AttributeError):
            continue
        ids, default = [], None
        for v in items:
            vid = v if isinstance(v, str) else v.get("id") or v.get("name") if isinstance(v, dict) else None
            if isinstance(vid, str):
                ids.append(vid)
                if isinstance(v, dict) and v.get("default"):
                    default = vid
        if ids:
            return ids, default or ids[0]
    return sorted(OPENAI_VOICES), "alloy"


class WsClient:
    """One WebSocket to `voicetrace serve`, shared by every request; a reader thread routes messages."""

    def __init__(self, url: str, token: str | None) -> None:
        parts = urlsplit(url)
        path = parts.path.rstrip("/")
        if not path.endswith("/v1/stream"):
            path += "/v1/stream"
        self.url = urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._ws: Any = None
        self._lock = threading.Lock()
        self._queues: dict[str, queue.Queue[tuple[str, Any]]] = {}
        self._idle_waiters: dict[str, list[OnIdle]] = {}
        self._jobs: dict[str, SourceJob] = {}  # requests in flight: how much the session played, for a cancel

    def connect(self) -> None:
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        try:
            # legacy=True: a connection that lives as long as the engine, not a `with` block
            ws = connect(self.url, additional_headers=self.headers, open_timeout=CONNECT_S,
                         max_size=4 * 1024 * 1024, compression=None, legacy=True)
        except InvalidStatus as exc:
            code = exc.response.status_code
            if code in (401, 403):
                raise UserError(f"the remote server at {self.url} refused the connection ({code}: wrong or "
                                "missing token)", "pass the server's --token") from exc
            raise _unreachable(self.url, exc) from exc
        except (OSError, TimeoutError) as exc:
            raise _unreachable(self.url, exc) from exc
        except Exception as exc:  # websockets raises its own handshake errors
            raise _unreachable(self.url, exc) from exc
        self._ws = ws
        threading.Thread(target=self._reader, args=(ws,), name="remote-ws-reader", daemon=True).start()

    def _ensure(self) -> Any:
        with self._lock:
            if self._ws is None:
                self.connect()
            return self._ws

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.close()

    def _reader(self, ws: Any) -> None:
        reason = "closed by the server"
        try:
            for msg in ws:
                t = now_ns()
                if isinstance(msg, bytes):
                    try:
                        frame = unpack_frame(msg)
                    except ValueError:
                        continue
                    self._route(frame.request_id, ("frame", (t, frame)))
                    continue
                try:
                    data = json.loads(msg)
                except ValueError:
                    continue
                rid = data.get("request_id")
                if data.get("type") == "cancelled" and isinstance(rid, str):
                    with self._lock:
                        waiters = self._idle_waiters.pop(rid, [])
                    for w in waiters:
                        w(t)
                if isinstance(rid, str):
                    self._route(rid, (str(data.get("type")), (t, data)))
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                if self._ws is ws:
                    self._ws = None
                queues = list(self._queues.values())
                waiters = [w for ws_ in self._idle_waiters.values() for w in ws_]
                self._idle_waiters.clear()
            for q in queues:
                q.put(("closed", (now_ns(), reason)))
            t = now_ns()
            for w in waiters:  # the server aborts a closed socket's requests: nothing runs for them now
                w(t)

    def _route(self, rid: str, item: tuple[str, Any]) -> None:
        with self._lock:
            q = self._queues.get(rid)
        if q is not None:
            q.put(item)

    def stream(self, job: SourceJob, out: SourceOutput, model: str | None) -> None:
        ws = self._ensure()
        q: queue.Queue[tuple[str, Any]] = queue.Queue()
        with self._lock:
            self._queues[job.request_id] = q
        resample = _Resample(job.out_rate)
        meta: dict[int, WireChunk] = {}
        phrase_of: dict[int, int] = {}  # chunk index → the index of its phrase's first chunk
        got_final = False
        last_index = -1
        streamed = not job.feed.complete
        with self._lock:
            self._jobs[job.request_id] = job
        try:
            msg: dict[str, Any] = {"type": "start", "request_id": job.request_id, "voice": job.voice,
                                   "speed": job.speed}
            msg.update({"text": "", "stream_input": True} if streamed else {"text": job.text})
            if model:
                msg["model"] = model
            try:
                ws.send(json.dumps(msg))
            except Exception as exc:
                self.close()
                raise _unreachable(self.url, exc) from exc
            if streamed:
                threading.Thread(target=self._forward_text, args=(ws, job), name="remote-text", daemon=True).start()
            last_heard = time.monotonic()
            while True:
                try:
                    kind, (t, data) = q.get(timeout=0.05)
                except queue.Empty:
                    if job.stop.is_set():
                        return  # cancelled: cancel() told the server
                    if time.monotonic() - last_heard > STALL_S and job.feed.complete:
                        self.close()
                        raise UserError(f"the remote server sent nothing for {STALL_S:.0f} s",
                                        "it may be overloaded or stuck; check it, the next request reconnects"
                                        ) from None
                    continue
                last_heard = time.monotonic()
                if job.stop.is_set():
                    return
                if kind == "first_audio":
                    out.remote_timings(remote_from_wire(t, job.request_id, data))
                elif kind == "chunk":
                    c = chunk_from_wire(data)
                    i = c.index
                    meta[i] = c
                    if c.offset > 0:  # the next piece of the phrase before it
                        phrase_of[i] = phrase_of.get(i - 1, i - 1)
                    else:  # a phrase: known here by the index of its first chunk
                        phrase_of[i] = i
                        out.plan(i, c.text, c.words, first_word=c.first_word, total_words=c.total_words, t_ns=t)
                elif kind == "frame":
                    m = meta.get(data.chunk_index)
                    compute = m.compute_ms if m is not None else None
                    out.synth_ended(data.chunk_index, len(data.pcm) // 2, RATE,
                                    None if compute is None else int(compute * 1e6), m.cache if m is not None else (),
                                    t_ns=t)
                    audio = resample(from_pcm16(data.pcm), RATE, last=data.final)
                    last_index = data.chunk_index
                    got_final = data.final
                    ph = phrase_of.get(data.chunk_index, data.chunk_index)
                    times = m.word_times if m is not None else None
                    out.chunk(data.chunk_index, audio, data.final, ph,
                              [(round(a * job.out_rate / RATE), round(b * job.out_rate / RATE)) for a, b in times]
                              if times else None)  # word times in the samples this side emits
                elif kind == "done":
                    if not got_final:
                        out.chunk(last_index + 1, resample(np.zeros(0, np.float32), RATE, last=True), True)
                    return
                elif kind == "error":
                    raise UserError(f"the remote server: {data.get('message', 'error')}")
                elif kind == "cancelled":
                    return
                elif kind == "closed":
                    raise UserError(f"the connection to the remote server dropped mid-stream ({data})",
                                    "check the server; the next request reconnects")
        finally:
            with self._lock:
                self._queues.pop(job.request_id, None)
                self._jobs.pop(job.request_id, None)

    @staticmethod
    def _forward_text(ws: Any, job: SourceJob) -> None:
        """Streamed input: each piece as an `append`, a flush as `flush`, the end as `end`."""
        feed, sent, flushes, version = job.feed, 0, 0, -1
        try:
            while not job.stop.is_set():
                version = feed.wait(version, 0.05)
                text = feed.text
                if len(text) > sent:
                    ws.send(json.dumps({"type": "append", "request_id": job.request_id, "text": text[sent:]}))
                    sent = len(text)
                if feed.flushes > flushes:
                    flushes = feed.flushes
                    ws.send(json.dumps({"type": "flush", "request_id": job.request_id}))
                if feed.complete:
                    ws.send(json.dumps({"type": "end", "request_id": job.request_id}))
                    return
        except Exception:
            return  # the socket went away: the stream's reader reports it

    def cancel(self, request_id: str, on_idle: OnIdle) -> None:
        with self._lock:
            ws = self._ws
            live = request_id in self._queues
            job = self._jobs.get(request_id)
            if ws is not None and live:
                self._idle_waiters.setdefault(request_id, []).append(on_idle)
        if ws is None or not live:
            on_idle(now_ns())  # the server has finished it (or the socket is gone): nothing runs for it
            return
        msg: dict[str, Any] = {"type": "cancel", "request_id": request_id}
        if job is not None:  # only this side knows what it played: the server answers with those words
            msg["played_ms"] = round(job.played_ms(), 3)
        try:
            ws.send(json.dumps(msg))
        except Exception:
            self.close()  # the reader releases the waiters
            return

        def watchdog() -> None:
            time.sleep(CANCEL_ACK_S)
            with self._lock:
                pending = request_id in self._idle_waiters
            if pending:
                self.close()  # no acknowledgement: drop the socket, which makes the server abort its streams

        threading.Thread(target=watchdog, name="remote-cancel-watchdog", daemon=True).start()


class HttpClient:
    """Any OpenAI-compatible speech endpoint, streamed; cancel closes the response."""

    def __init__(self, url: str, token: str | None, extra: dict[str, Any] | None = None) -> None:
        import httpx

        self.base = _http_base(url)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.extra = dict(extra or {})
        self._client = httpx.Client(timeout=httpx.Timeout(STALL_S, connect=CONNECT_S))
        self._responses: dict[str, Any] = {}
        self._lock = threading.Lock()

    def stream(self, job: SourceJob, out: SourceOutput, model: str | None) -> None:
        import httpx

        # OpenAI's speech endpoint takes whole text: streamed input waits for its end here.
        version = -1
        while not job.feed.complete:
            if job.stop.is_set():
                return
            version = job.feed.wait(version, 0.05)
        text = job.text or job.feed.text
        body = {"model": model or "tts-1", "input": text, "voice": job.voice, "response_format": "pcm",
                "speed": job.speed, **self.extra}
        resample = _Resample(job.out_rate)
        index = 0
        pending: list[AudioArray] = []
        pending_rate = RATE
        try:
            with self._client.stream("POST", self.base + "/v1/audio/speech", json=body,
                                     headers=self.headers) as resp:
                with self._lock:
                    self._responses[job.request_id] = resp
                if resp.status_code >= 400:
                    resp.read()
                    raise UserError(f"the remote server answered {resp.status_code}: {_error_message(resp)}")
                decoder = decoder_for(resp.headers.get("content-type", ""))
                for data in resp.iter_raw():
                    t = now_ns()
                    if job.stop.is_set():
                        return
                    for audio, rate in decoder.feed(data):
                        pending.append(audio)
                        pending_rate = rate
                    n = sum(len(a) for a in pending)
                    if n and (index == 0 or n >= MIN_PIECE_SAMPLES * pending_rate // RATE):
                        chunk = np.concatenate(pending)
                        pending = []
                        out.synth_ended(index, len(chunk), pending_rate, None, t_ns=t)
                        out.chunk(index, resample(chunk, pending_rate), False)
                        index += 1
                    if getattr(decoder, "done", False):
                        break
        except httpx.HTTPError as exc:
            if job.stop.is_set():
                return  # our own cancel closed it
            raise UserError(f"the remote server at {self.base} failed mid-stream ({type(exc).__name__}: {exc})",
                            "check the server and the network") from exc
        finally:
            with self._lock:
                self._responses.pop(job.request_id, None)
        if job.stop.is_set():
            return
        tail = np.concatenate(pending) if pending else np.zeros(0, np.float32)
        if len(tail):
            out.synth_ended(index, len(tail), pending_rate, None)
        out.chunk(index, resample(tail, pending_rate, last=True), True)

    def close(self) -> None:
        self._client.close()

    def cancel(self, request_id: str, on_idle: OnIdle) -> None:
        with self._lock:
            resp = self._responses.get(request_id)
        if resp is not None:
            # The server sees the disconnect and stops generating. Closing a response another thread is
            # reading may raise; it is closed either way.
            with contextlib.suppress(Exception):
                resp.close()
        on_idle(now_ns())


def _error_message(resp: Any) -> str:
    try:
        err = resp.json().get("error")
        return str(err.get("message") if isinstance(err, dict) else err)[:300]
    except Exception:
        return resp.text[:200] or resp.reason_phrase


class RemoteSource(Readiness):
    """A chunk source whose engine is a server: 'loading' is fetching its voices and connecting."""

    name = "remote"
    rate = RATE  # what the server sends

    def __init__(self, url: str, token: str | None = None, model: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__()
        scheme = urlsplit(url).scheme
        if scheme not in ("ws", "wss", "http", "https"):
            raise UserError(f"remote URL {url!r} must start with ws://, wss://, http:// or https://",
                            "e.g. ws://gpu-box:8880 for `voicetrace serve`")
        self.url = url
        self.model = model
        self.token = token
        self.client: WsClient | HttpClient = (WsClient(url, token) if scheme in ("ws", "wss")
                                              else HttpClient(url, token, extra))
        self.title = f"Remote ({url})"
        self._voice_ids: list[str] = []
        self._default_voice = "alloy"
        self._stopped = False

    def start(self) -> Self:
        threading.Thread(target=self._connect, name="remote-connect", daemon=True).start()
        return self

    def _connect(self) -> None:
        self.state = "loading"
        error: BaseException | None = None
        try:
            t = time.perf_counter()
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._voice_ids, default = fetch_voices(_http_base(self.url), headers)
            # With a model named, OpenAI's "alloy" asks the server for that model's own default voice.
            self._default_voice = "alloy" if self.model else default or self._default_voice
            if isinstance(self.client, WsClient):
                self.client.connect()
            self.load_ms = (time.perf_counter() - t) * 1000
            self.warmup_ms = 0.0  # the server keeps its engines warm
        except BaseException as exc:
            error = exc
        self._loaded(error)
        if self._stopped:
            self.client.close()

    @property
    def default_voice(self) -> str:
        return self._default_voice

    def voices(self) -> list[str]:
        return list(self._voice_ids)

    def check_voice(self, voice: str) -> None:
        # The server validates too; this catches typos before a round trip. Blends go to the server as typed.
        if (self._voice_ids and voice not in self._voice_ids and voice not in OPENAI_VOICES
                and not any(c in voice for c in "+(:,")):
            raise UserError(f"unknown voice {voice!r} on the remote server",
                            "choose one of: " + ", ".join(self._voice_ids[:12]))

    def produce(self, job: SourceJob, out: SourceOutput) -> None:
        while not self.ready.wait(0.05):
            if job.stop.is_set():
                return
        if self.error is not None:
            raise UserError(f"the remote engine is not connected: {self.error}")
        self.client.stream(job, out, self.model)

    def cancel(self, request_id: str, on_idle: OnIdle) -> None:
        self.client.cancel(request_id, on_idle)

    def stop(self) -> None:
        self._stopped = True
        self.client.close()
