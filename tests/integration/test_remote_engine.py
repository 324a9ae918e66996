"""The app's Remote engine through the real Session, player and JACK device: against `voicetrace serve`
(WebSocket and HTTP) and against small fake servers that frame audio the way other serving engines do
(these engines cannot run here). Faults: refused, stalled and dropped connections, error statuses."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import wave

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from voicetrace.contract import Play
from voicetrace.core.session import Session
from voicetrace.remote import source as remote_source
from voicetrace.remote.source import RemoteSource

pytestmark = [pytest.mark.audio, pytest.mark.models]

TEXT = "The remote engine speaks through the same ring and player. A second sentence follows the first."
LONG = "A long remote answer that we interrupt while it plays, to hear how fast it stops. " * 3


def remote_session(player, url: str, **kw):
    remote = RemoteSource(url, **kw).start()
    remote.ready.wait(20)
    return Session(player, {"remote": remote}), remote


def run(session: Session, text: str, voice: str | None = None, timeout: float = 60.0):
    req = session.submit(text, "remote", voice)
    return req, req.result(timeout)  # settled: a stale sample after the end would show in the trace


def played(req) -> int:
    return sum(e.n for e in req.trace.of(Play))


# ---- against voicetrace serve ---------------------------------------------------------------------------
def test_websocket_remote_speaks_with_split_ttfa(player, server):
    session, remote = remote_session(player, server.ws)
    try:
        assert remote.state == "ready" and "joe" in remote.voices()
        req, m = run(session, TEXT, "joe")
    finally:
        session.close()
        remote.stop()
    assert m.outcome == "done", m.error
    assert m.ttfa_callback_ms is not None and m.server_ttfa_ms is not None and m.network_ms is not None
    # not timings: the parts of TTFA are ordered as the path is (server work happens before arrival here)
    assert 0 < m.server_ttfa_ms < m.ttfa_callback_ms and m.network_ms >= 0  # not a timing: an ordering
    assert sum(c.words for c in m.chunks) == len(TEXT.split())
    assert played(req) == sum(c.samples for c in m.chunks) > 0
    assert m.rtf is not None and m.rtf > 0  # the server reports its compute time
    assert 0.15 * len(TEXT.split()) < m.audio_ms / 1000 < 1.0 * len(TEXT.split())


def test_websocket_remote_cancel_is_silent_and_frees_the_server(player, server):
    session, remote = remote_session(player, server.ws)
    try:
        req = session.submit(LONG, "remote", "jm_kumo")
        deadline = time.monotonic() + 30
        while not req.trace.of(Play) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert session.cancel(req.id)
        assert req.finished.wait(10)
        time.sleep(0.2)
        m = session.metrics(req.id)
        # the same socket serves the next request
        _, m2 = run(session, "And the next one.", "joe")
    finally:
        session.close()
        remote.stop()
    assert m.outcome == "cancelled" and m.stale_samples_after_cancel == 0
    assert m.cancel_to_silence_ms is not None and m.cancel_to_idle_ms is not None
    assert m2.outcome == "done"
    assert server.service.sources["kokoro"].is_idle()
    assert "voicetrace_cancels_total" in server.service.metrics.text().decode()


def test_http_remote_against_our_server(player, server):
    session, remote = remote_session(player, server.http, model="piper")
    try:
        req, m = run(session, TEXT)
    finally:
        session.close()
        remote.stop()
    assert m.outcome == "done", m.error
    assert m.rtf is None  # plain HTTP carries no compute time: unknown, not zero
    assert played(req) == sum(c.samples for c in m.chunks) > 0
    assert 0.15 * len(TEXT.split()) < m.audio_ms / 1000 < 1.0 * len(TEXT.split())


# ---- fake servers framing audio like other engines ----------------------------------------------------------
def tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def pcm16(a: np.ndarray) -> bytes:
    return (a * 32767).astype("<i2").tobytes()


def wav_bytes(a: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm16(a))
    return buf.getvalue()


def fake_server(media_type: str, pieces, seen: list, status: int = 200, stall_after: int | None = None):
    async def speech(request: Request):
        seen.append(await request.json())
        if status != 200:
            return JSONResponse({"error": {"message": "model overloaded", "type": "server_error",
                                           "param": None, "code": None}}, status_code=status)

        async def body():
            for k, p in enumerate(pieces):
                if stall_after is not None and k == stall_after:
                    await asyncio.sleep(30)
                yield p
                await asyncio.sleep(0.02)

        return StreamingResponse(body(), media_type=media_type)

    return Starlette(routes=[Route("/v1/audio/speech", speech, methods=["POST"])])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sse(event: dict, newline: str = "\n") -> bytes:
    return f"data: {json.dumps(event)}{newline}{newline}".encode()


def _formats():
    a24 = tone(1.2, 24_000)
    parts24 = np.array_split(a24, 6)
    a22 = tone(1.2, 22_050)
    parts22 = np.array_split(a22, 4)
    a16 = tone(1.2, 16_000)
    raw = pcm16(a24)
    header = wav_bytes(a16, 16_000)[:44]
    header = header[:4] + b"\xff\xff\xff\xff" + header[8:40] + b"\xff\xff\xff\xff"  # streamed: sizes unknown
    wav16 = header + pcm16(a16)
    return {
        # Kokoro-FastAPI / speaches / vLLM-Omni `pcm`: raw chunked PCM, split mid-sample on purpose
        "raw_pcm": ("audio/pcm", [raw[i:i + 4801] for i in range(0, len(raw), 4801)], 1.2),
        # a streamed WAV with unknown sizes at another rate
        "wav_stream": ("audio/wav", [wav16[i:i + 7000] for i in range(0, len(wav16), 7000)], 1.2),
        # OpenAI: SSE speech.audio.delta with base64 PCM, then speech.audio.done
        "openai_sse": ("text/event-stream", [sse({"type": "speech.audio.delta", "audio": b64(pcm16(p))})
                                             for p in parts24]
                       + [sse({"type": "speech.audio.done", "usage": {"input_tokens": 5}})], 1.2),
        # SGLang-Omni (Fish Audio S2): SSE audio.speech.chunk, each a small WAV, finish_reason, [DONE]
        "sglang_sse": ("text/event-stream",
                       [sse({"object": "audio.speech.chunk", "index": k, "finish_reason": None,
                             "audio": {"data": b64(wav_bytes(p, 22_050)), "format": "wav", "sample_rate": 22050}},
                            "\r\n") for k, p in enumerate(parts22)]
                       + [sse({"object": "audio.speech.chunk", "audio": None, "finish_reason": "stop"}),
                          b"data: [DONE]\n\n"], 1.2),
    }


@pytest.mark.parametrize("fmt", ["raw_pcm", "wav_stream", "openai_sse", "sglang_sse"])
def test_http_remote_decodes_each_framing(player, serve_app, fmt):
    media, pieces, seconds = _formats()[fmt]
    seen: list = []
    srv = serve_app(fake_server(media, pieces, seen))
    session, remote = remote_session(player, srv.http + "/v1", model="fish-s2")
    try:
        assert remote.state == "ready"
        assert "alloy" in remote.voices()  # no voice list there: OpenAI's names
        req, m = run(session, "Anything at all.", "alloy")
    finally:
        session.close()
        remote.stop()
    assert m.outcome == "done", m.error
    assert seen == [{"model": "fish-s2", "input": "Anything at all.", "voice": "alloy", "response_format": "pcm",
                     "speed": 1.0}]
    assert m.audio_ms == pytest.approx(seconds * 1000, abs=1.0)  # every sample decoded, at its own rate
    # what reached the device is the tone, resampled to the device rate: same length, not silence
    assert played(req) == pytest.approx(seconds * player.rate, abs=player.rate * 0.01)
    assert m.ttfa_callback_ms is not None


def test_http_remote_error_status_fails_the_request_with_the_servers_message(player, serve_app):
    srv = serve_app(fake_server("audio/pcm", [], [], status=503))
    session, remote = remote_session(player, srv.http)
    try:
        _, m = run(session, "Hello.", "alloy")
    finally:
        session.close()
        remote.stop()
    assert m.outcome == "failed" and "503" in m.error and "model overloaded" in m.error


def test_http_remote_stall_fails_in_bounded_time(player, serve_app, monkeypatch):
    monkeypatch.setattr(remote_source, "STALL_S", 1.0)
    raw = pcm16(tone(2.0, 24_000))
    srv = serve_app(fake_server("audio/pcm", [raw[:9600], raw[9600:]], [], stall_after=1))
    session, remote = remote_session(player, srv.http)  # its read timeout is STALL_S
    try:
        t = time.monotonic()
        req, m = run(session, "Hello.", "alloy", timeout=20)
        waited = time.monotonic() - t
    finally:
        session.close()
        remote.stop()
    assert m.outcome == "failed" and "failed mid-stream" in m.error
    assert waited < 15  # not a timing: a hang bound, 15× the (patched) 1 s stall limit
    assert 0 < played(req) <= 4800 * player.rate // 24_000 + 64  # what came before the stall, no more


def test_unreachable_server_says_so(player):
    remote = RemoteSource("ws://127.0.0.1:9").start()
    remote.ready.wait(20)
    try:
        assert remote.state == "error"
        assert "cannot reach the remote server" in str(remote.error) and "voicetrace serve" in str(remote.error)
        session = Session(player, {"remote": remote})
        req = session.submit("Hello.", "remote", "alloy")
        assert req.finished.wait(5)
        assert req.outcome == "failed" and "not connected" in (req.error or "")
        session.close()
    finally:
        remote.stop()


def test_websocket_server_gone_mid_stream_fails_cleanly(player, make_service, serve_app):
    from voicetrace.server.app import build_app

    srv = serve_app(build_app(make_service()))
    session, remote = remote_session(player, srv.ws)
    try:
        req = session.submit(LONG, "remote", "jm_kumo")
        deadline = time.monotonic() + 30
        while not req.trace.of(Play) and time.monotonic() < deadline:
            time.sleep(0.01)
        srv.stop()
        assert req.finished.wait(20)
        m = session.metrics(req.id)
    finally:
        session.close()
        remote.stop()
    assert m.outcome == "failed" and "dropped mid-stream" in m.error
