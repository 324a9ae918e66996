"""Text streamed in over the WebSocket (`start{stream_input}`, `append`, `flush` → `flushed`, `end`; `cancel
{played_ms}` → `cancelled{heard_text, heard_ms}`), its faults, and the app's Remote engine streaming a request's
text to `voicetrace serve` through the real session and JACK device."""

from __future__ import annotations

import json
import time

import pytest
from test_server import collect, recv_json
from websockets.sync.client import connect

from voicetrace.core.session import Session
from voicetrace.remote.source import RemoteSource

pytestmark = [pytest.mark.models]

REPLY = ("Sure, this answer arrives a few words at a time, the way a language model writes it. The server "
         "speaks each phrase as soon as it is settled, and it says which words were heard when interrupted.")


def _pieces(text: str, n: int = 4) -> list[str]:
    return [text[k:k + n] for k in range(0, len(text), n)]


def test_streamed_input_is_spoken_whole_with_flush_acknowledged(server):
    with connect(server.ws + "/v1/stream") as ws:
        ws.send(json.dumps({"type": "start", "request_id": "s1", "voice": "joe", "stream_input": True}))
        assert recv_json(ws)["type"] == "started"
        for k, piece in enumerate(_pieces(REPLY)):
            ws.send(json.dumps({"type": "append", "request_id": "s1", "text": piece}))
            if k == 10:
                ws.send(json.dumps({"type": "flush", "request_id": "s1"}))
            time.sleep(0.01)
        ws.send(json.dumps({"type": "end", "request_id": "s1"}))
        msgs, frames = collect(ws, "s1")
    kinds = [m["type"] for m in msgs]
    assert "flushed" in kinds and kinds[-1] == "done"
    chunks = [m for m in msgs if m["type"] == "chunk"]
    spoken = " ".join(c["text"] for c in chunks).split()
    # the flush settled the word it came in the middle of: it may be spoken in two parts, nothing else
    assert "".join(spoken) == "".join(REPLY.split())
    assert frames and frames[-1].final


def test_cancel_with_played_ms_answers_with_the_words_heard(server):
    with connect(server.ws + "/v1/stream") as ws:
        ws.send(json.dumps({"type": "start", "request_id": "s2", "voice": "joe", "stream_input": True,
                            "text": REPLY}))
        sent_ms = 0.0
        while sent_ms < 2500:
            m = ws.recv(timeout=30)
            if isinstance(m, bytes):
                sent_ms += (len(m) - 40) / 2 / 24.0  # ≈ the frame's audio (header ignored)
        ws.send(json.dumps({"type": "cancel", "request_id": "s2", "played_ms": 1200}))
        msgs, _ = collect(ws, "s2")
    ack = msgs[-1]
    assert ack["type"] == "cancelled" and ack["state"] == "cancelled"
    heard = ack["heard_text"].split()
    assert 0 < len(heard) < len(REPLY.split()) and heard == REPLY.split()[:len(heard)]
    assert ack["heard_ms"] == pytest.approx(1200, abs=1)


@pytest.mark.parametrize(("msg", "code"), [
    ({"type": "append", "request_id": "nope", "text": "hi"}, "unknown_request"),
    ({"type": "append", "request_id": "s3", "text": 42}, "invalid_text"),
    ({"type": "flush", "request_id": "nope"}, "unknown_request"),
])
def test_bad_appends_get_an_error_and_the_socket_stays(server, msg, code):
    with connect(server.ws + "/v1/stream") as ws:
        ws.send(json.dumps({"type": "start", "request_id": "s3", "voice": "joe", "stream_input": True}))
        assert recv_json(ws)["type"] == "started"
        ws.send(json.dumps(msg))
        err = recv_json(ws)
        assert err["type"] == "error" and err["code"] == code
        ws.send(json.dumps({"type": "append", "request_id": "s3", "text": "Still here."}))
        ws.send(json.dumps({"type": "end", "request_id": "s3"}))
        msgs, _ = collect(ws, "s3")
        assert msgs[-1]["type"] == "done"
        ws.send(json.dumps({"type": "append", "request_id": "s3", "text": "after the end"}))
        assert recv_json(ws)["code"] == "unknown_request"


def test_an_empty_stream_ends_with_nothing_to_speak_and_a_flood_of_tiny_appends_works(server):
    with connect(server.ws + "/v1/stream") as ws:
        ws.send(json.dumps({"type": "start", "request_id": "e", "voice": "joe", "stream_input": True}))
        ws.send(json.dumps({"type": "end", "request_id": "e"}))
        msgs, _ = collect(ws, "e")
        assert msgs[-1]["type"] == "error" and "nothing to speak" in msgs[-1]["message"]
        ws.send(json.dumps({"type": "start", "request_id": "f", "voice": "joe", "stream_input": True}))
        for ch in "One character at a time, quickly.":
            ws.send(json.dumps({"type": "append", "request_id": "f", "text": ch}))
        ws.send(json.dumps({"type": "end", "request_id": "f"}))
        msgs, _ = collect(ws, "f")
        assert msgs[-1]["type"] == "done"


@pytest.mark.audio
def test_the_remote_engine_streams_a_requests_text_to_the_server(player, server):
    remote = RemoteSource(server.ws).start()
    remote.ready.wait(20)
    session = Session(player, {"remote": remote})
    try:
        req = session.open("remote", "joe")
        for piece in _pieces(REPLY, 6):
            req.feed(piece)
            time.sleep(0.02)
        req.end()
        m = req.result(timeout=60)
    finally:
        session.close()
        remote.stop()
    assert m.outcome == "done" and m.stream_input and m.ttfa_from_first_text_ms is not None
    assert m.heard_text is not None and m.heard_text.split() == REPLY.split()
