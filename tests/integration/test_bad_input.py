"""The bad-input corpus (tests/corpus/bad_input.py) through every way in: the session (both engines, on the
JACK device), the command line, the server (HTTP and one WebSocket for all cases). Each case is spoken or
refused with one clear message; nothing hangs or crashes, and the next request still works."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest
from websockets.sync.client import connect

from corpus.bad_input import CASES  # tests/ is on the path (its conftest.py puts it there)
from voicetrace.contract import Play
from voicetrace.core.session import Session
from voicetrace.errors import UserError
from voicetrace.remote.protocol import unpack_frame

pytestmark = [pytest.mark.audio, pytest.mark.models]

HANG_S = 60.0  # a bound that turns a hang into a failure; not a speed target


def first_audio_or_end(req, timeout: float = HANG_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if req.finished.is_set() or any(e.n > 0 for e in req.trace.of(Play)):
            return True
        time.sleep(0.005)
    return False


@pytest.mark.parametrize("engine", ["piper", "kokoro"])
def test_corpus_through_the_session(player, piper_source, kokoro_source, engine):
    assert len(CASES) >= 30
    session = Session(player, {"piper": piper_source, "kokoro": kokoro_source})
    problems = []
    try:
        for case in CASES:
            try:
                req = session.submit(case.text, engine, case.voice, case.speed)
            except UserError as exc:
                msg = str(exc)
                if case.expect != "error" or case.needle.lower() not in msg.lower() or "\n" in msg:
                    problems.append(f"{case.name}: refused with {msg!r}")
                continue
            if not first_audio_or_end(req):
                problems.append(f"{case.name}: no audio and no end in {HANG_S} s")
            session.cancel(req.id)  # the corpus checks behaviour, not the whole of a 10 000-character word
            assert req.finished.wait(10), case.name
            time.sleep(0.05)
            m = session.metrics(req.id)
            if case.expect == "speech":
                spoke = any(e.n > 0 for e in req.trace.of(Play))
                if m.outcome == "failed" or not (spoke or req.skipped):
                    problems.append(f"{case.name}: {m.outcome} {m.error!r}, nothing spoken or skipped")
            elif m.outcome != "failed" or case.needle.lower() not in (m.error or "").lower():
                problems.append(f"{case.name}: expected an error with {case.needle!r}, got {m.outcome} {m.error!r}")
            if m.stale_samples_after_cancel:
                problems.append(f"{case.name}: {m.stale_samples_after_cancel} stale samples")
            # and the next request still works
            nxt = session.submit("Okay.", engine)
            if not nxt.finished.wait(HANG_S) or nxt.outcome != "done":
                problems.append(f"after {case.name}: the next request ended {nxt.outcome}")
    finally:
        session.close()
    assert problems == []


CLI_CASES = [c for c in CASES if c.expect == "error" and c.voice is None]


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voicetrace", *args], input=stdin, capture_output=True,
                          timeout=300, env={**os.environ})


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_corpus_errors_on_the_command_line(jack, case):
    # The text goes through standard input (1 MB would not fit an argument list); speed as typed.
    p = run_cli("speak", "--engine", "piper", "--speed", repr(case.speed) if math.isfinite(case.speed)
                else str(case.speed), "-", stdin=case.text.encode("utf-8", "surrogatepass"))
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert case.needle.lower() in err.lower() and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(("data", "needle"), [
    (b"\xff\xfe\x00\x01 not text", "UTF-8"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "UTF-8"),
    (b"caf\xe9 latin-1", "UTF-8"),
])
def test_binary_or_undecodable_files_are_refused_clearly(jack, tmp_path, data, needle):
    f = tmp_path / "input.txt"
    f.write_bytes(data)
    p = run_cli("speak", "--engine", "piper", "-f", str(f))
    err = p.stderr.decode()
    assert p.returncode == 2 and needle in err and "offset" in err and "Traceback" not in err


def test_corpus_through_the_server(server):
    url = server.http + "/v1/audio/speech"
    problems = []
    for case in CASES:
        body = {"model": "kokoro" if case.voice else "piper", "input": case.text, "voice": case.voice,
                "speed": case.speed, "response_format": "pcm"}
        raw = json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
        with httpx.stream("POST", url, content=raw, timeout=HANG_S,
                          headers={"content-type": "application/json"}) as r:
            if r.status_code == 200:
                got = next(r.iter_raw(), b"")  # then close: a client going away mid-stream is fine too
                if case.expect != "speech" or not got:
                    problems.append(f"{case.name}: 200 with {len(got)} bytes")
                continue
            r.read()
            err = r.json().get("error", {})
            if r.status_code >= 500 or case.expect != "error" or not err.get("message"):
                problems.append(f"{case.name}: {r.status_code} {err}")
            elif case.needle.lower() not in err["message"].lower() and r.status_code != 413:
                problems.append(f"{case.name}: message {err['message']!r} lacks {case.needle!r}")
    assert problems == []
    assert httpx.get(server.http + "/health").json()["status"] == "ok"


def test_corpus_over_one_websocket(server):
    problems = []
    with connect(server.ws + "/v1/stream", max_size=4 * 1024 * 1024) as ws:
        for k, case in enumerate(CASES):
            rid = f"case-{k}"
            msg = {"type": "start", "request_id": rid, "text": case.text, "voice": case.voice, "speed": case.speed}
            ws.send(json.dumps(msg, allow_nan=True))
            outcome = None
            said = ""
            while outcome is None:
                m = ws.recv(timeout=HANG_S)
                if isinstance(m, bytes):
                    if unpack_frame(m).request_id == rid and outcome is None:
                        ws.send(json.dumps({"type": "cancel", "request_id": rid}))
                    continue
                d = json.loads(m)
                # a message too large to be read gets an error that cannot name its request
                if d.get("request_id") not in (rid, None):
                    continue
                if d["type"] in ("cancelled", "done"):
                    outcome = "speech"
                elif d["type"] == "error":
                    outcome = "error"
                    said = f"{d.get('code')}: {d.get('message')}"
                    if not d.get("message"):
                        problems.append(f"{case.name}: error without a message")
            if outcome != case.expect:
                problems.append(f"{case.name}: {outcome} ({said if outcome == 'error' else ''})")
        ws.send(json.dumps({"type": "ping"}))  # the socket survived all of it
        while True:
            m = ws.recv(timeout=HANG_S)
            if isinstance(m, str) and json.loads(m).get("type") == "pong":
                break
    assert problems == []
    deadline = time.monotonic() + 10  # every stream the corpus started has ended: no thread left behind
    while any(t.name.startswith("serve-") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("serve-")]
