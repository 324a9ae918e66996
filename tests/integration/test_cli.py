"""The `voicetrace` command as a user runs it: JSON metrics on the real device, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave

import pytest

pytestmark = [pytest.mark.audio]


def run(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voicetrace", *args], input=stdin, capture_output=True,
                          timeout=300, env={**os.environ, **(env or {})})


@pytest.mark.models
def test_speak_json_has_every_metric_and_writes_what_was_played(jack, tmp_path):
    wav = tmp_path / "out.wav"
    p = run("speak", "--engine", "piper", "--json", "--wav", str(wav), "Hello there. This is a short test.")
    assert p.returncode == 0, p.stderr.decode()
    m = json.loads(p.stdout)
    for key in ["request_id", "engine", "voice", "text_chars", "ttfa_callback_ms", "ttfa_audible_ms",
                "ttfa_voiced_ms", "rtf", "audio_ms", "chunks", "underruns", "underrun_ms", "cancelled",
                "cancel_to_silence_ms", "cancel_to_idle_ms", "stale_samples_after_cancel", "cache",
                "engine_load_ms", "warmup_ms", "peak_rss_mb"]:
        assert key in m
    assert m["outcome"] == "done" and m["ttfa_audible_ms"] > m["ttfa_callback_ms"] > 0
    assert set(m["chunks"][0]) >= {"index", "words", "ready_ms", "play_ms", "slack_ms", "samples"}
    with wave.open(str(wav)) as w:
        assert w.getframerate() == m["device_rate"]
        frames = w.getnframes()
    # the capture holds at least every sample of the request (plus the silence around it)
    assert frames >= sum(c["samples"] for c in m["chunks"])


@pytest.mark.models
def test_cancel_after_reports_latencies_and_no_stale_samples(jack):
    p = run("speak", "--engine", "piper", "--json", "--cancel-after", "1.0", "-f", "assets/paragraph_150.txt")
    assert p.returncode == 0, p.stderr.decode()
    m = json.loads(p.stdout)
    assert m["cancelled"] and m["outcome"] == "cancelled"
    assert m["stale_samples_after_cancel"] == 0
    assert m["cancel_to_silence_ms"] is not None and m["cancel_to_idle_ms"] is not None


@pytest.mark.parametrize(("args", "stdin", "needle"), [
    (["speak", ""], None, "no text"),
    (["speak", "   \n  "], None, "no text"),
    (["speak", "-"], b"\xff\xfe\xfa bad bytes", "UTF-8"),
    (["speak", "--engine", "nope", "hi"], None, "unknown engine"),
    (["speak", "--speed", "nan", "hi"], None, "speed"),
    (["speak", "--speed", "-1", "hi"], None, "speed"),
    (["speak", "--device", "no-such-device", "hi"], None, "no output device"),
    (["speak", "-f", "/nonexistent/file.txt"], None, "cannot read"),
])
def test_bad_input_exits_2_with_one_clear_line(jack, args, stdin, needle):
    p = run(*args, stdin=stdin)
    err = p.stderr.decode().strip()
    assert p.returncode == 2, err
    assert needle.lower() in err.lower()
    assert len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.models
def test_unknown_voice_is_a_clear_error(jack):
    p = run("speak", "--engine", "piper", "--voice", "../../etc/passwd", "hello")
    assert p.returncode == 2 and "unknown voice" in p.stderr.decode()


def test_devices_lists_the_jack_device(jack):
    p = run("devices")
    assert p.returncode == 0 and "system" in p.stdout.decode()


def test_models_verify_flags_a_corrupt_user_model(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"not a graph")
    (tmp_path / "bad.onnx.json").write_text('{"audio": {"sample_rate": 22050}, "phoneme_id_map": {}}')
    p = run("models", "--verify", env={"VOICETRACE_MODELS_DIR": str(tmp_path)})
    out = p.stdout.decode()
    assert p.returncode == 1
    assert "piper:bad" in out and "ERROR" in out and "bad.onnx" in out


@pytest.mark.models
def test_speak_through_a_remote_server_with_a_token(jack, make_service, serve_app):
    from voicetrace.server.app import build_app

    srv = serve_app(build_app(make_service(), token="tok"))
    p = run("speak", "--engine", "remote", "--url", srv.ws, "--voice", "joe", "--json", "Over the socket.",
            env={"VOICETRACE_TOKEN": "tok"})
    assert p.returncode == 0, p.stderr.decode()
    m = json.loads(p.stdout)
    assert m["engine"] == "remote" and m["outcome"] == "done" and m["server_ttfa_ms"] > 0
    bad = run("speak", "--engine", "remote", "--url", srv.ws, "--token", "wrong", "Hi.")
    assert bad.returncode == 2 and b"refused the token" in bad.stderr and b"--token" in bad.stderr
    assert b"Traceback" not in bad.stderr


def test_remote_without_url_is_a_clear_error():
    p = run("speak", "--engine", "remote", "Hi.")
    assert p.returncode == 2 and b"--engine remote needs --url" in p.stderr
