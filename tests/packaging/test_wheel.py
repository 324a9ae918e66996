"""A wheel of the project, installed with its dependencies and both framework extras (`voicetrace[pipecat,livekit]`,
as an agent engineer installs it) into a fresh virtual environment, works from any folder: `voicetrace speak
--wav` writes speech, the Python API streams audio, and the Pipecat and LiveKit examples, copied elsewhere, run
with no source checkout in sight (the model manifest and the bench texts are package data; a missing one fails
here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import wave
from pathlib import Path

import pytest

pytestmark = [pytest.mark.packaging, pytest.mark.models]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    wheels = list(tmp.glob("voicetrace-*.whl"))
    assert len(wheels) == 1
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    pip = subprocess.run([str(py), "-m", "pip", "install", "-q", f"{wheels[0]}[pipecat,livekit]"],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]
    return env_dir


def _env(home: Path) -> dict[str, str]:
    # nothing of the checkout or the dev venv: a user's shell in another folder — on the test lane's JACK server
    # when there is one (never the machine's 'default'), with no device at all otherwise
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "JACK_NO_START_SERVER": "1"}
    if os.environ.get("JACK_DEFAULT_SERVER"):
        env["JACK_DEFAULT_SERVER"] = os.environ["JACK_DEFAULT_SERVER"]
    return env


def test_the_installed_command_speaks_into_a_wav_outside_the_repository(installed, tmp_path):
    out = subprocess.run([str(installed / "bin" / "voicetrace"), "speak", "--engine", "piper", "--device", "nothing",
                          "--json", "Hello"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env=_env(tmp_path))
    assert out.returncode == 2 and "nothing" in out.stderr  # an unknown device: a clear error, not a crash
    wav = tmp_path / "out.wav"
    out = subprocess.run([str(installed / "bin" / "voicetrace"), "speak", "--engine", "piper", "--wav", str(wav),
                          "--json", "Hello"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env=_env(tmp_path))  # plays on the JACK device when there is one, else file only
    assert out.returncode == 0, out.stderr[-2000:]
    record = json.loads(out.stdout)
    assert record["outcome"] == "done"
    with wave.open(str(wav)) as w:
        assert w.getnframes() / w.getframerate() > 0.3


def test_the_installed_api_streams_audio(installed, tmp_path):
    code = ("import voicetrace as vt; e = vt.load('piper'); s = e.stream('Hello there.', sample_rate=16000); "
            "n = sum(len(c.audio) for c in s); print(n, s.metrics().outcome, vt.__file__)")
    out = subprocess.run([str(installed / "bin" / "python"), "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env=_env(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    n, outcome, where = out.stdout.split()
    assert int(n) > 8000 and outcome == "done"
    assert str(installed) in where  # the installed copy, not the checkout


@pytest.mark.parametrize(("script", "heard"), [("pipecat_agent.py", "Pipecat TTFB"),
                                               ("livekit_agent.py", "interrupted: True")])
def test_the_framework_examples_run_on_the_installed_extras(installed, tmp_path, script, heard):
    shutil.copy(ROOT / "examples" / script, tmp_path / script)  # a user's own folder: the example, nothing else
    out = subprocess.run([str(installed / "bin" / "python"), script, "piper", "--interrupt-after", "1"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300, env=_env(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    assert heard in out.stdout and "VoiceTrace: cancelled" in out.stdout
    with wave.open(str(tmp_path / "reply.wav")) as w:
        assert w.getnframes() > 0
