"""The HTTP/WebSocket front of `voicetrace serve` (Starlette on uvicorn). Everything heavy runs on the
service's threads; handlers only move bytes. Every route, the WebSocket included, checks the bearer token."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..audio.encode import STREAM_FORMATS, ChunkEncoder
from ..errors import UserError
from ..remote.protocol import RATE, openai_error, pack_frame
from .service import Item, Rejected, ServerStream, SpeechService

MAX_BODY = 256 * 1024  # a speech request is JSON with at most max_chars of text
DEFAULT_FORMAT = "mp3"  # OpenAI's default response_format


def sse_event(data: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def _error(exc: Rejected) -> JSONResponse:
    return JSONResponse(openai_error(exc.message, exc.kind, exc.code, exc.param), status_code=exc.status)


class BearerAuth:
    """Pure ASGI, so it guards the WebSocket handshake as well as HTTP routes."""

    def __init__(self, app: ASGIApp, service: SpeechService, token: str | None) -> None:
        self.app = app
        self.service = service
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.expected is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        got = dict(scope.get("headers") or []).get(b"authorization", b"")
        if hmac.compare_digest(got, self.expected):
            await self.app(scope, receive, send)
            return
        self.service.metrics.rejected(scope["type"], "invalid_api_key")
        if scope["type"] == "websocket":
            await receive()  # the connect event; closing before accept answers the handshake with 403
            await send({"type": "websocket.close", "code": 1008, "reason": "missing or wrong bearer token"})
            return
        msg = "missing or wrong bearer token: send `Authorization: Bearer <token>` (the server's --token)"
        resp = JSONResponse(openai_error(msg, "authentication_error", "invalid_api_key"), status_code=401)
        await resp(scope, receive, send)


async def _read_json(request: Request) -> dict[str, Any]:
    size = 0
    parts = []
    async for part in request.stream():
        size += len(part)
        if size > MAX_BODY:
            raise Rejected(413, "body_too_large", f"request body over {MAX_BODY // 1024} KiB")
        parts.append(part)
    try:
        body = json.loads(b"".join(parts) or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise Rejected(400, "invalid_json", f"the body is not valid JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise Rejected(400, "invalid_json", "the body must be a JSON object")
    return body


def _client(scope_client: Any) -> str:
    return scope_client.host if scope_client else "unknown"


def build_app(service: SpeechService, token: str | None = None) -> ASGIApp:
    async def health(request: Request) -> Response:
        return JSONResponse(service.health())

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": service.models()})

    async def voices(request: Request) -> Response:
        return JSONResponse({"voices": service.voices()})

    async def metrics(request: Request) -> Response:
        return Response(service.metrics.text(), media_type="text/plain; version=0.0.4")

    async def speech(request: Request) -> Response:
        try:
            body = await _read_json(request)
            fmt = body.get("response_format", DEFAULT_FORMAT)
            if not isinstance(fmt, str) or fmt not in STREAM_FORMATS:
                raise Rejected(400, "unsupported_response_format", f"response_format {str(fmt)[:20]!r} is not "
                               "supported here; use " + ", ".join(STREAM_FORMATS) + " (pcm: raw s16le, 24 kHz, "
                               "mono)", param="response_format")
            sse = body.get("stream_format", "audio")
            if sse not in ("audio", "sse"):
                raise Rejected(400, "unsupported_stream_format", f"stream_format {str(sse)[:20]!r} is not "
                               "supported; use audio or sse", param="stream_format")
            encoder = ChunkEncoder(fmt, RATE)
            loop = asyncio.get_running_loop()
            items: asyncio.Queue[Item] = asyncio.Queue()
            stream = service.open(text=body.get("input"), model=body.get("model"), voice=body.get("voice"),
                                  speed=body.get("speed"), client=_client(request.client), transport="http",
                                  deliver=_threadsafe(loop, items.put_nowait))
        except Rejected as exc:
            return _error(exc)
        # Headers wait for the first chunk, so a request that fails before any audio gets a real status.
        first = await items.get()
        if first[0] == "error":
            kind = "invalid_request_error" if first[2] == 400 else "server_error"
            return JSONResponse(openai_error(first[1], kind, "synthesis_failed"), status_code=first[2])
        chars = len(str(body.get("input", "")))

        def framed(data: bytes, done: bool = False) -> bytes:
            """OpenAI's stream_format sse: the audio (in the response_format) as base64 deltas, then done."""
            if sse == "audio":
                return data
            out = b""
            if data:
                out += sse_event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()})
            if done:
                out += sse_event({"type": "speech.audio.done",
                                  "usage": {"input_tokens": chars, "output_tokens": 0, "total_tokens": chars}})
            return out

        async def body_iter() -> AsyncIterator[bytes]:
            item = first
            try:
                while item[0] == "audio":
                    # encoding is a few ms a chunk (MP3 ~1 ms per 100 ms of audio on the 2-core VM): on the loop
                    out = framed(encoder.encode(item[3]))
                    if out:
                        yield out
                    stream.sent(len(item[3]) // 2)
                    item = await items.get()
                if item[0] == "done":
                    yield framed(encoder.finish(), done=True)
                elif sse == "sse":  # "error" mid-stream: the status is sent already; SSE can still say why
                    yield sse_event({"type": "error", "error": openai_error(str(item[1]), "server_error")["error"]})
            finally:
                if stream.outcome is None:
                    stream.abort()  # the client went away: stop generating now

        headers = {"x-request-id": stream.id, "x-voicetrace-engine": stream.engine,
                   "x-voicetrace-voice": stream.voice}
        media = "text/event-stream" if sse == "sse" else encoder.media_type
        return StreamingResponse(body_iter(), media_type=media, headers=headers)

    async def ws_stream(ws: WebSocket) -> None:
        await ws.accept()
        await WsConnection(service, ws).run()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        service.close()

    app = Starlette(routes=[
        Route("/health", health), Route("/v1/models", models), Route("/v1/voices", voices),
        Route("/metrics", metrics), Route("/v1/audio/speech", speech, methods=["POST"]),
        WebSocketRoute("/v1/stream", ws_stream),
    ], lifespan=lifespan)
    return BearerAuth(app, service, token)


def _threadsafe(loop: asyncio.AbstractEventLoop, put: Callable[[Any], None]) -> Callable[[Any], None]:
    def deliver(item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone (server stopping): nobody to deliver to
            loop.call_soon_threadsafe(put, item)
    return deliver


class WsConnection:
    """One socket, many requests. A single sender task writes everything in order; a request's audio is
    dropped from the moment its cancel arrives, and `cancelled` is sent once the engine is idle for it."""

    def __init__(self, service: SpeechService, ws: WebSocket) -> None:
        self.service = service
        self.ws = ws
        self.client = _client(ws.client)
        self.out: asyncio.Queue[tuple[str, Item]] = asyncio.Queue()
        self.streams: dict[str, ServerStream] = {}
        self.cancelled: set[str] = set()
        self.max_message = 4 * service.limits.max_chars + 4096

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.loop = loop
        sender = asyncio.create_task(self._send_loop())
        try:
            while True:
                msg = await self.ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                self._handle(msg)
        except WebSocketDisconnect:
            pass
        finally:
            for s in self.streams.values():
                s.abort()  # the client is gone: free the workers at once
            sender.cancel()

    def _put(self, rid: str, item: Item) -> None:
        self.out.put_nowait((rid, item))

    def _reply_error(self, message: str, code: str, rid: Any = None) -> None:
        self._put("", ("json", {"type": "error", "request_id": rid if isinstance(rid, str) else None,
                                "code": code, "message": message}))

    def _handle(self, msg: Mapping[str, Any]) -> None:
        if msg.get("text") is None:
            self._reply_error("binary frames are not accepted; send JSON text messages", "invalid_message")
            return
        text = msg["text"]
        if len(text) > self.max_message:
            self._reply_error(f"message over {self.max_message} characters", "message_too_large")
            return
        try:
            data = json.loads(text)
        except ValueError:
            self._reply_error("the message is not valid JSON", "invalid_json")
            return
        if not isinstance(data, dict):
            self._reply_error("a message must be a JSON object with a type", "invalid_message")
            return
        kind = data.get("type")
        if kind == "start":
            self._start(data)
        elif kind == "cancel":
            self._cancel(data.get("request_id"), data.get("played_ms"))
        elif kind in ("append", "flush", "end"):
            self._text(kind, data)
        elif kind == "ping":
            self._put("", ("json", {"type": "pong"}))
        else:
            self._reply_error(f"unknown message type {str(kind)[:40]!r}; use start, append, flush, end, cancel "
                              "or ping", "unknown_type", data.get("request_id"))

    def _start(self, data: dict[str, Any]) -> None:
        rid = data.get("request_id") or uuid.uuid4().hex[:12]
        if not isinstance(rid, str):
            self._reply_error("request_id must be a string", "invalid_request_id")
            return
        if rid in self.streams:
            self._reply_error(f"request {str(rid)[:64]!r} is already streaming on this socket",
                              "duplicate_request_id", rid)
            return
        put = _threadsafe(self.loop, self.out.put_nowait)
        try:
            stream = self.service.open(text=data.get("text"), model=data.get("model"), voice=data.get("voice"),
                                       speed=data.get("speed"), client=self.client, transport="websocket",
                                       deliver=lambda item: put((rid, item)), request_id=rid,
                                       stream_input=data.get("stream_input") is True)
        except Rejected as exc:
            self._reply_error(exc.message, exc.code, rid)
            return
        self.cancelled.discard(stream.id)
        self.streams[stream.id] = stream
        self._put("", ("json", {"type": "started", "request_id": stream.id, "engine": stream.engine,
                                "voice": stream.voice}))

    def _text(self, kind: str, data: dict[str, Any]) -> None:
        """Streamed input: append / flush / end for a request started with stream_input: true."""
        rid = data.get("request_id")
        stream = self.streams.get(rid) if isinstance(rid, str) else None
        if stream is None or rid in self.cancelled:
            why = "cancelled" if rid in self.cancelled else "unknown (or finished)"
            self._reply_error(f"{kind} for a request that is {why}", "unknown_request", rid)
            return
        try:
            if kind == "append":
                stream.feed(data.get("text"))
            elif kind == "flush":
                stream.flush()
                self._put("", ("json", {"type": "flushed", "request_id": rid}))
            else:
                stream.end()
        except UserError as exc:
            self._reply_error(str(exc), "invalid_text", rid)

    def _cancel(self, rid: Any, played_ms: Any = None) -> None:
        if not isinstance(rid, str):
            self._reply_error("cancel needs the request_id to cancel", "invalid_message")
            return
        if played_ms is not None and (isinstance(played_ms, bool) or not isinstance(played_ms, int | float)
                                      or not 0 <= played_ms < 1e9):
            self._reply_error("played_ms must be a number of milliseconds", "invalid_message", rid)
            return
        stream = self.streams.get(rid)
        if stream is None or stream.outcome is not None:
            # Finished or unknown: nothing runs for it, so it is idle now.
            self._put(rid, ("cancelled", 0.0, "not_running", {}))
            return
        self.cancelled.add(rid)
        put = _threadsafe(self.loop, self.out.put_nowait)
        stream.cancel(lambda ms: put((rid, ("cancelled", ms, "cancelled", stream.heard()))), played_ms)

    async def _send_loop(self) -> None:
        try:
            while True:
                rid, item = await self.out.get()
                await self._send(rid, item)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the socket closed under us; run() cleans up

    async def _send(self, rid: str, item: Item) -> None:
        kind = item[0]
        if kind == "json":
            await self.ws.send_json(item[1])
            return
        stream = self.streams.get(rid)
        if kind == "audio":
            _, index, final, pcm, meta = item
            if stream is not None:
                stream.sent(len(pcm) // 2)
            if rid in self.cancelled or stream is None:
                return  # cancelled: not one more sample of it leaves
            if index == 0:
                await self.ws.send_json({"type": "first_audio", "request_id": rid, **stream.first_audio_timings()})
            await self.ws.send_json({"type": "chunk", "request_id": rid, **meta})
            await self.ws.send_bytes(pack_frame(rid, index, final, pcm))
        elif kind == "done":
            self.streams.pop(rid, None)
            if rid not in self.cancelled:
                await self.ws.send_json({"type": "done", "request_id": rid, **item[1]})
        elif kind == "error":
            self.streams.pop(rid, None)
            if rid not in self.cancelled:
                await self.ws.send_json({"type": "error", "request_id": rid, "code": "synthesis_failed",
                                         "message": item[1]})
        elif kind == "cancelled":
            self.streams.pop(rid, None)
            await self.ws.send_json({"type": "cancelled", "request_id": rid, "server_cancel_ms": item[1],
                                     "state": item[2], **item[3]})
