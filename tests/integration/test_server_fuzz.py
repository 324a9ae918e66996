"""Fuzzing `voicetrace serve` with hypothesis: arbitrary JSON, wrong types, unknown fields and raw bytes at
the HTTP endpoint and over one WebSocket, huge frames, and voice names that look like paths. The server must
answer every one with audio or a 4xx in OpenAI's error shape (never a 500, never a dropped socket for a bad
message), stay healthy, and never let a voice name reach the filesystem."""

from __future__ import annotations

import json
import sys
import threading

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

pytestmark = [pytest.mark.models]

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True),
                      st.text(max_size=40))
json_any = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                        max_leaves=12)
speech_body = st.fixed_dictionaries({}, optional={
    "model": st.one_of(st.sampled_from(["piper", "kokoro", "tts-1", "nope"]), json_any),
    "input": st.one_of(st.text(max_size=60), json_any),
    "voice": st.one_of(st.sampled_from(["joe", "jm_kumo", "alloy", "../x", "/etc/passwd", "jm_kumo(1)+joe(1)"]),
                       json_any),
    "speed": st.one_of(st.floats(allow_nan=True, allow_infinity=True), json_any),
    "response_format": st.one_of(st.sampled_from(["pcm", "wav", "mp3"]), json_any),
    "extra_field": json_any,
})
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture()
def fuzz_server(make_service, serve_app):
    """One server per test function (hypothesis runs all of a function's examples against it)."""
    from voicetrace.server.app import build_app

    svc = make_service(per_minute=100_000, max_streams=16)
    srv = serve_app(build_app(svc))
    srv.service = svc
    return srv


def _check_response(r: httpx.Response) -> None:
    assert r.status_code < 500, r.text[:300]
    if r.status_code != 200:
        err = r.json()["error"]
        assert set(err) == {"message", "type", "param", "code"} and err["message"]


@SETTINGS
@given(body=st.one_of(speech_body, json_any))
def test_http_speech_answers_any_json_with_audio_or_an_openai_error(fuzz_server, body):
    raw = json.dumps(body, allow_nan=True)
    with httpx.stream("POST", fuzz_server.http + "/v1/audio/speech", content=raw.encode("utf-8", "surrogatepass"),
                      timeout=60) as r:
        if r.status_code == 200:
            next(r.iter_raw(), None)  # the first audio, then hang up
        else:
            r.read()
        _check_response(r)


@SETTINGS
@given(raw=st.binary(max_size=300))
def test_http_speech_answers_any_bytes(fuzz_server, raw):
    r = httpx.post(fuzz_server.http + "/v1/audio/speech", content=raw, timeout=30)
    _check_response(r)
    assert r.status_code != 200 or raw.strip().startswith(b"{")


def _settle(sock) -> None:
    """Ping, then read until the pong has come and every request this message started has ended (each is
    cancelled as soon as it starts): the socket answered and is still usable."""
    sock.send(json.dumps({"type": "ping"}))
    started: set[str] = set()
    got_pong = False
    while not got_pong or started:
        m = sock.recv(timeout=60)
        if isinstance(m, bytes):
            continue
        d = json.loads(m)
        if d["type"] == "pong":
            got_pong = True
        elif d["type"] == "started":
            started.add(d["request_id"])
            sock.send(json.dumps({"type": "cancel", "request_id": d["request_id"]}))
        elif d["type"] in ("cancelled", "done", "error"):
            started.discard(d.get("request_id"))


ws_message = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["start", "cancel", "ping", "stop", ""])}, optional={
        "request_id": json_any, "text": st.one_of(st.text(max_size=40), json_any),
        "voice": st.one_of(st.sampled_from(["joe", "jm_kumo", "../../x"]), json_any),
        "speed": json_any, "model": json_any}),
    json_any)


@SETTINGS
@given(msg=ws_message)
def test_websocket_answers_every_message_and_stays_open(fuzz_server, msg):
    with connect(fuzz_server.ws + "/v1/stream", max_size=8 * 1024 * 1024) as sock:
        sock.send(json.dumps(msg, allow_nan=True))
        _settle(sock)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.one_of(st.binary(max_size=200), st.text(max_size=200).filter(lambda t: '"type"' not in t)))
def test_websocket_raw_garbage_gets_an_error(fuzz_server, data):
    with connect(fuzz_server.ws + "/v1/stream") as sock:
        sock.send(data)
        d = json.loads(sock.recv(timeout=30))
        assert d["type"] == "error" and d["message"]
        _settle(sock)


def test_huge_websocket_frames(fuzz_server):
    with connect(fuzz_server.ws + "/v1/stream", max_size=8 * 1024 * 1024) as sock:
        sock.send(json.dumps({"type": "start", "text": "x " * 200_000}))  # 400 KB: over the text limit
        d = json.loads(sock.recv(timeout=30))
        assert d["type"] == "error" and d["code"] == "message_too_large"
        sock.send(json.dumps({"type": "ping"}))
        assert json.loads(sock.recv(timeout=30))["type"] == "pong"
    with connect(fuzz_server.ws + "/v1/stream", max_size=8 * 1024 * 1024) as sock:
        sock.send("x" * (5 * 1024 * 1024))  # over the protocol limit: the server closes with 1009
        with pytest.raises(ConnectionClosed) as info:
            sock.recv(timeout=30)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    assert httpx.get(fuzz_server.http + "/health").json()["status"] == "ok"


_opened: list[str] = []
_watching = threading.Event()


def _audit(event: str, args: tuple) -> None:
    if _watching.is_set() and event == "open" and args and isinstance(args[0], str | bytes):
        _opened.append(str(args[0]))


sys.addaudithook(_audit)  # process-wide and permanent: it records only while _watching is set


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(voice=st.one_of(st.text(min_size=1, max_size=60),
                       st.sampled_from(["../../etc/passwd", "/etc/shadow", "voices/../../x", "C:\\\\x", "~/.ssh/id",
                                        "jm_kumo/../../x", "file:///etc/passwd", "\x00jm_kumo"])))
def test_voice_names_never_reach_the_filesystem(fuzz_server, voice):
    from voicetrace.server.service import Rejected

    _opened.clear()
    _watching.set()
    try:
        fuzz_server.service.resolve("piper", voice)
        fuzz_server.service.resolve("kokoro", voice)
    except Rejected:
        pass
    finally:
        _watching.clear()
    assert not [p for p in _opened if voice in p]
