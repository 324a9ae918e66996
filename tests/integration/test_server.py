"""`voicetrace serve` on a real port, with real clients: the official `openai` package, httpx and a
`websockets` client. Audio content is checked loosely (speech-length, not silent); protocol and limits
exactly."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from voicetrace.remote.protocol import RATE, unpack_frame

pytestmark = [pytest.mark.models]

LONG = ("A long answer keeps the engine busy for several seconds, so that a client can go away in the middle "
        "of it. " * 4)


def wait_until(pred, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


def recv_json(ws, timeout: float = 30.0) -> dict:
    while True:
        msg = ws.recv(timeout=timeout)
        if isinstance(msg, str):
            return json.loads(msg)


def collect(ws, rid: str, timeout: float = 60.0) -> tuple[list[dict], list]:
    """Every message and frame of one request until its terminal message."""
    msgs, frames = [], []
    while True:
        m = ws.recv(timeout=timeout)
        if isinstance(m, bytes):
            f = unpack_frame(m)
            if f.request_id == rid:
                frames.append(f)
            continue
        d = json.loads(m)
        if d.get("request_id") == rid:
            msgs.append(d)
            if d["type"] in ("done", "cancelled", "error"):
                return msgs, frames


def speech_like(pcm: bytes, words: int) -> None:
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    assert 0.15 * words < len(audio) / RATE < 1.0 * words
    assert float(np.sqrt(np.mean(audio ** 2))) > 0.01  # not silence


# ---- HTTP, OpenAI-compatible -------------------------------------------------------------------------
def test_official_openai_client_streams_pcm_unchanged(server):
    from openai import OpenAI

    client = OpenAI(base_url=server.http + "/v1", api_key="unused")
    text = "Hello from the official client, streamed as raw PCM."
    pieces = []
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input=text, response_format="pcm") as resp:
        assert resp.headers["content-type"].startswith("audio/pcm")
        assert resp.headers["x-voicetrace-engine"] == "kokoro"  # tts-1 → the default engine
        for piece in resp.iter_bytes():
            pieces.append(piece)
    speech_like(b"".join(pieces), len(text.split()))


def test_wav_streams_with_a_header_for_unknown_length(server):
    from voicetrace.remote.decode import parse_wav_header

    with httpx.stream("POST", server.http + "/v1/audio/speech", timeout=60,
                      json={"model": "piper", "input": "A short wave file.", "response_format": "wav"}) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        body = r.read()
    parsed = parse_wav_header(body)
    assert parsed is not None
    pcm, offset = parsed
    assert pcm.rate == RATE and pcm.channels == 1 and body[4:8] == b"\xff\xff\xff\xff"
    speech_like(body[offset:], 4)


def _decoded(data: bytes, fmt: str) -> tuple[np.ndarray, int]:
    import io

    import soundfile as sf

    if fmt == "pcm":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768, RATE
    audio, rate = sf.read(io.BytesIO(data), dtype="float32")
    return audio, rate


SAID = "Every format is made by one encoder, as the audio comes."


@pytest.fixture()
def pcm_reference(server):
    r = httpx.post(server.http + "/v1/audio/speech", timeout=60,
                   json={"model": "piper", "input": SAID, "response_format": "pcm"})
    assert r.status_code == 200
    return _decoded(r.content, "pcm")[0]


@pytest.mark.parametrize(("fmt", "media"), [("mp3", "audio/mpeg"), ("opus", "audio/ogg"), ("flac", "audio/flac"),
                                            ("wav", "audio/wav"), ("pcm", "audio/pcm")])
def test_official_openai_client_gets_each_response_format(server, pcm_reference, fmt, media):
    from openai import OpenAI

    client = OpenAI(base_url=server.http + "/v1", api_key="unused")
    reads = 0
    data = b""
    with client.audio.speech.with_streaming_response.create(
            model="piper", voice="alloy", input=SAID, response_format=fmt) as resp:
        assert resp.headers["content-type"].startswith(media)
        for piece in resp.iter_bytes():
            data += piece
            reads += 1
    audio, rate = _decoded(data, fmt)
    ref_s = len(pcm_reference) / RATE
    # the same speech (codec padding aside; two requests of one text may be phrased differently: the planner
    # sizes phrases by the engine's measured speed, and each phrase's trimmed edges and pauses differ a little)
    assert abs(len(audio) / rate - ref_s) < 0.15 * ref_s + 0.06
    level = float(np.sqrt(np.mean(audio ** 2)))
    ref_level = float(np.sqrt(np.mean(pcm_reference ** 2)))
    assert 0.7 < level / ref_level < 1.3


def test_mp3_is_streamed_as_it_is_made(server):
    """The first MP3 bytes arrive while the rest of a long text is still being made."""
    first_at = None
    with httpx.stream("POST", server.http + "/v1/audio/speech", timeout=60,
                      json={"model": "piper", "input": LONG}) as r:  # the default format: mp3, as OpenAI's
        assert r.headers["content-type"] == "audio/mpeg"
        t0 = time.perf_counter()
        data = b""
        for piece in r.iter_bytes():
            if first_at is None and piece:
                first_at = time.perf_counter() - t0
            data += piece
        total = time.perf_counter() - t0
    audio, rate = _decoded(data, "mp3")
    assert len(audio) / rate > 10  # the whole long text
    assert first_at is not None and first_at < 0.5 * total  # order of events in one run, not a wall-time bound


def test_openai_client_sse_stream_format_gives_audio_deltas_then_done(server, pcm_reference):
    import base64

    from openai import OpenAI

    client = OpenAI(base_url=server.http + "/v1", api_key="unused")
    events = []
    with client.audio.speech.with_streaming_response.create(
            model="piper", voice="alloy", input=SAID, response_format="pcm", stream_format="sse") as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "speech.audio.done" and set(kinds[:-1]) == {"speech.audio.delta"} and len(kinds) > 2
    assert events[-1]["usage"]["input_tokens"] == len(SAID)
    pcm = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    audio = _decoded(pcm, "pcm")[0]
    assert abs(len(audio) - len(pcm_reference)) < 0.15 * len(pcm_reference)
    # and an SSE stream of MP3 deltas joins into one MP3 file
    with httpx.stream("POST", server.http + "/v1/audio/speech", timeout=60,
                      json={"model": "piper", "input": SAID, "stream_format": "sse"}) as r:
        deltas = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    mp3 = b"".join(base64.b64decode(e["audio"]) for e in deltas if e["type"] == "speech.audio.delta")
    audio, rate = _decoded(mp3, "mp3")
    assert abs(len(audio) / rate - len(pcm_reference) / RATE) < 0.15 * len(pcm_reference) / RATE + 0.06


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"input": ""}, 400, "invalid_input"),
    ({"input": "   \n\t "}, 400, "invalid_input"),
    ({"input": "?!..."}, 400, "invalid_input"),
    ({"input": 42}, 400, "invalid_type"),
    ({"input": "hi", "voice": "../../../etc/passwd"}, 400, "invalid_voice"),
    ({"input": "hi", "voice": "x" * 500}, 400, "invalid_voice"),
    ({"input": "hi", "voice": ["jm_kumo"]}, 400, "invalid_type"),
    ({"input": "hi", "model": "gpt-5-voice"}, 404, "model_not_found"),
    ({"input": "hi", "response_format": "aac"}, 400, "unsupported_response_format"),
    ({"input": "hi", "stream_format": "websocket"}, 400, "unsupported_stream_format"),
    ({"input": "hi", "speed": 9}, 400, "invalid_speed"),
    ({"input": "hi", "speed": "fast"}, 400, "invalid_speed"),
    ({"input": "word " * 3000}, 400, "text_too_long"),
])
def test_bad_requests_get_openai_errors(server, body, status, code):
    r = httpx.post(server.http + "/v1/audio/speech", json=body, timeout=30)
    assert r.status_code == status
    err = r.json()["error"]
    assert err["code"] == code and err["message"] and set(err) == {"message", "type", "param", "code"}


def test_malformed_and_oversized_bodies(server):
    url = server.http + "/v1/audio/speech"
    r = httpx.post(url, content=b"{not json", timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = httpx.post(url, content=json.dumps({"input": "hi", "speed": math.nan}).encode(), timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_speed"
    r = httpx.post(url, content=b"\xff\xfe" * 10, timeout=10)
    assert r.status_code == 400
    r = httpx.post(url, content=b"[" * (300 * 1024), timeout=10)
    assert r.status_code == 413
    # and the server still serves
    r = httpx.post(url, json={"model": "piper", "input": "Still here.", "response_format": "pcm"}, timeout=30)
    assert r.status_code == 200 and len(r.content) > RATE // 4


def test_catalog_routes(server):
    voices = httpx.get(server.http + "/v1/voices").json()["voices"]
    by_engine = {v["engine"] for v in voices}
    assert by_engine == {"kokoro", "piper"}
    assert all(set(v) >= {"id", "engine", "language", "sample_rate"} for v in voices)
    assert sum(v["default"] for v in voices) == 1
    models = httpx.get(server.http + "/v1/models").json()["data"]
    assert [m["id"] for m in models] == ["kokoro", "piper"]
    health = httpx.get(server.http + "/health").json()
    assert health["status"] == "ok" and health["active_streams"] == 0


def test_client_disconnect_stops_generation_at_once(server):
    svc = server.service
    kokoro = svc.sources["kokoro"]
    with httpx.stream("POST", server.http + "/v1/audio/speech", timeout=60,
                      json={"model": "kokoro", "input": LONG, "response_format": "pcm"}) as r:
        first = next(r.iter_raw())
        assert first
        assert svc.active_count() == 1
    # The generator was closed: the stream is dropped and the worker is free well before the text could
    # have been synthesised (about 60 s of audio; Kokoro needs ~20 s for it here).
    assert wait_until(lambda: svc.active_count() == 0 and kokoro.is_idle(), timeout=5)
    text = svc.metrics.text().decode()
    assert 'voicetrace_requests_total{engine="kokoro",outcome="aborted",transport="http"} 1.0' in text


def test_busy_and_rate_limits(make_service, serve_app):
    from voicetrace.server.app import build_app

    srv = serve_app(build_app(make_service(max_streams=1, per_minute=4)))
    url = srv.http + "/v1/audio/speech"
    with httpx.stream("POST", url, json={"model": "kokoro", "input": LONG, "response_format": "pcm"},
                      timeout=60) as r:
        # Keep the iterator: a dropped one closes the response, the server aborts the stream and frees its slot.
        chunks = r.iter_raw()
        next(chunks)
        busy = httpx.post(url, json={"model": "piper", "input": "Me too."}, timeout=10)
        assert busy.status_code == 429 and busy.json()["error"]["code"] == "busy"
    assert wait_until(lambda: httpx.get(srv.http + "/health").json()["active_streams"] == 0)
    codes = [httpx.post(url, json={"model": "piper", "input": "Hi."}, timeout=30).status_code for _ in range(3)]
    assert codes[:2] == [200, 200] and codes[2] == 429  # 4 a minute, and 2 were used above


def test_concurrent_streams_all_complete(server):
    import concurrent.futures as cf

    def one(i: int) -> int:
        r = httpx.post(server.http + "/v1/audio/speech", timeout=60,
                       json={"model": "piper", "input": f"Stream number {i} speaks one sentence.",
                             "response_format": "pcm"})
        assert r.status_code == 200
        return len(r.content)

    with cf.ThreadPoolExecutor(4) as pool:
        sizes = list(pool.map(one, range(4)))
    assert all(s > RATE for s in sizes)


def test_metrics_are_prometheus_text(server):
    httpx.post(server.http + "/v1/audio/speech", json={"model": "piper", "input": "Count me.",
                                                       "response_format": "pcm"}, timeout=30)
    text = httpx.get(server.http + "/metrics").text
    for name in ("voicetrace_requests_total", "voicetrace_server_ttfa_seconds_bucket", "voicetrace_rtf_bucket",
                 "voicetrace_active_streams", "voicetrace_cancels_total", "voicetrace_cache_hit_ratio"):
        assert name in text
    assert 'voicetrace_requests_total{engine="piper",outcome="done",transport="http"} 1.0' in text


# ---- security ------------------------------------------------------------------------------------------
def test_token_is_checked_on_every_route_and_the_websocket(make_service, serve_app):
    from openai import AuthenticationError, OpenAI

    from voicetrace.server.app import build_app

    srv = serve_app(build_app(make_service(), token="s3cret"))
    for path in ("/health", "/v1/voices", "/v1/models", "/metrics"):
        assert httpx.get(srv.http + path).status_code == 401
        assert httpx.get(srv.http + path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(srv.http + path, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    r = httpx.post(srv.http + "/v1/audio/speech", json={"input": "hi"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    with pytest.raises(InvalidStatus) as info:
        connect(srv.ws + "/v1/stream")
    assert info.value.response.status_code == 403
    with connect(srv.ws + "/v1/stream", additional_headers={"Authorization": "Bearer s3cret"}) as ws:
        ws.send(json.dumps({"type": "ping"}))
        assert recv_json(ws)["type"] == "pong"
    with pytest.raises(AuthenticationError):
        OpenAI(base_url=srv.http + "/v1", api_key="wrong").audio.speech.create(
            model="piper", voice="alloy", input="hi", response_format="pcm")
    ok = OpenAI(base_url=srv.http + "/v1", api_key="s3cret").audio.speech.create(
        model="piper", voice="alloy", input="Authorised.", response_format="pcm")
    assert len(ok.content) > RATE // 4


def test_serve_refuses_a_public_bind_without_a_token():
    from voicetrace.errors import UserError
    from voicetrace.server.run import check_bind

    with pytest.raises(UserError, match="without a token"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", "t")
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("localhost", None)
    out = subprocess.run([sys.executable, "-m", "voicetrace", "serve", "--host", "0.0.0.0", "--port", "1"],
                         capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 2 and "refusing to listen on 0.0.0.0 without a token" in out.stderr


# ---- WebSocket -------------------------------------------------------------------------------------------
def test_websocket_streams_tagged_frames_then_done(server):
    text = "The socket carries tagged audio frames. Then it says done."
    with connect(server.ws + "/v1/stream") as ws:
        ws.send(json.dumps({"type": "start", "request_id": "req-1", "text": text, "voice": "joe"}))
        msgs, frames = collect(ws, "req-1")
    kinds = [m["type"] for m in msgs]
    assert kinds[0] == "started" and kinds[1] == "first_audio" and kinds[-1] == "done"
    first = msgs[1]
    assert first["server_ttfa_ms"] > 0 and first["queue_ms"] is not None and first["synth_ms"] > 0
    chunks = [m for m in msgs if m["type"] == "chunk"]
    assert [c["index"] for c in chunks] == [f.chunk_index for f in frames] == list(range(len(frames)))
    assert [f.final for f in frames] == [False] * (len(frames) - 1) + [True]
    assert [len(f.pcm) // 2 for f in frames] == [c["samples"] for c in chunks]
    assert sum(c["words"] for c in chunks) == len(text.split())
    speech_like(b"".join(f.pcm for f in frames), len(text.split()))
    done = msgs[-1]
    assert done["chunks"] == len(frames) and done["rtf"] > 0


def test_websocket_cancel_is_acknowledged_and_nothing_follows(server):
    svc = server.service
    with connect(server.ws + "/v1/stream") as ws:
        ws.send(json.dumps({"type": "start", "request_id": "long", "text": LONG, "voice": "jm_kumo"}))
        ws.send(json.dumps({"type": "start", "request_id": "short", "text": "Side by side.", "voice": "joe"}))
        got_long_frame = False
        seen_after_ack = []
        acked = None
        deadline = time.monotonic() + 60
        short_done = False
        while time.monotonic() < deadline and not (acked and short_done):
            m = ws.recv(timeout=30)
            if isinstance(m, bytes):
                f = unpack_frame(m)
                if f.request_id == "long":
                    if acked:
                        seen_after_ack.append(f)
                    elif not got_long_frame:
                        got_long_frame = True
                        ws.send(json.dumps({"type": "cancel", "request_id": "long"}))
                continue
            d = json.loads(m)
            if d["type"] == "cancelled" and d["request_id"] == "long":
                acked = d
            elif d["type"] == "done" and d["request_id"] == "short":
                short_done = True
            elif acked and d.get("request_id") == "long":
                seen_after_ack.append(d)
        assert acked is not None and acked["state"] == "cancelled" and acked["server_cancel_ms"] >= 0
        assert short_done  # two requests shared the socket
        ws.send(json.dumps({"type": "ping"}))  # anything still in flight for "long" would arrive before this
        assert recv_json(ws)["type"] == "pong"
    assert seen_after_ack == []
    assert wait_until(lambda: svc.sources["kokoro"].is_idle() and svc.active_count() == 0)
    # a cancel for something finished or unknown is acknowledged too
    with connect(server.ws + "/v1/stream") as ws:
        ws.send(json.dumps({"type": "cancel", "request_id": "never-started"}))
        ack = recv_json(ws)
        assert ack["type"] == "cancelled" and ack["state"] == "not_running"


@pytest.mark.parametrize("bad", [
    "not json at all", "[1, 2, 3]", '"a string"', "{}", '{"type": "dance"}', '{"type": 7}',
    '{"type": "start"}', '{"type": "start", "text": 5}', '{"type": "start", "text": "hi", "voice": "../x"}',
    '{"type": "start", "text": "hi", "speed": -1}', '{"type": "start", "text": "hi", "request_id": "' + "x" * 99 + '"}',
    '{"type": "cancel"}', '{"type": "cancel", "request_id": {"a": 1}}',
])
def test_websocket_malformed_messages_get_an_error_and_the_socket_stays(server, bad):
    with connect(server.ws + "/v1/stream") as ws:
        ws.send(bad)
        reply = recv_json(ws)
        assert reply["type"] == "error" and reply["message"] and reply["code"]
        ws.send(b"\x00binary")
        assert recv_json(ws)["code"] == "invalid_message"
        ws.send(json.dumps({"type": "start", "request_id": "ok", "text": "Still fine.", "voice": "joe"}))
        msgs, frames = collect(ws, "ok")
        assert msgs[-1]["type"] == "done" and frames, msgs[-1]


def test_websocket_disconnect_aborts_its_streams(server):
    svc = server.service
    with connect(server.ws + "/v1/stream") as ws:
        ws.send(json.dumps({"type": "start", "request_id": "bye", "text": LONG, "voice": "jm_kumo"}))
        while not isinstance(ws.recv(timeout=30), bytes):
            pass
        assert svc.active_count() == 1
    assert wait_until(lambda: svc.active_count() == 0 and svc.sources["kokoro"].is_idle(), timeout=5)
