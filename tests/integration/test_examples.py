"""Every script in examples/ runs as a user would run it (from another folder) and does what it says."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
pytestmark = [pytest.mark.models]


def _run(tmp_path: Path, script: str, *args: str) -> str:
    p = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


def test_stream_to_wav_writes_the_streamed_audio(tmp_path):
    out = _run(tmp_path, "stream_to_wav.py", "out.wav", "piper")
    assert "done: first chunk after" in out
    with wave.open(str(tmp_path / "out.wav")) as w:
        assert w.getframerate() == 16000 and w.getnframes() > 16000  # more than a second of speech


def test_cancel_midway_ends_the_stream(tmp_path):
    out = _run(tmp_path, "cancel_midway.py", "piper")
    assert "after cancel: 0 more chunks" in out and "cancelled: cancel -> engine idle" in out


def test_async_stream(tmp_path):
    out = _run(tmp_path, "async_stream.py", "piper")
    assert float(out.split()[0]) > 1.0


@pytest.mark.audio
def test_speak_aloud_plays_and_interrupts(tmp_path, jack):
    assert "done: TTFA audible" in _run(tmp_path, "speak_aloud.py", "piper")
    out = _run(tmp_path, "speak_aloud.py", "piper", "--interrupt-after", "1.0")
    assert "cancelled:" in out and "stale samples 0" in out


def test_pipecat_agent_speaks_and_is_interrupted(tmp_path):
    pytest.importorskip("pipecat")
    out = _run(tmp_path, "pipecat_agent.py", "piper", "--interrupt-after", "0.5")
    assert "Pipecat TTFB" in out and "VoiceTrace: cancelled" in out
    with wave.open(str(tmp_path / "reply.wav")) as w:
        assert w.getframerate() == 24000 and w.getnframes() > 0


def test_livekit_agent_speaks_and_is_interrupted(tmp_path):
    pytest.importorskip("livekit.agents")
    out = _run(tmp_path, "livekit_agent.py", "piper", "--interrupt-after", "2")
    assert "VoiceTrace: cancelled" in out and "cancelled True" in out and "interrupted: True" in out
    with wave.open(str(tmp_path / "reply.wav")) as w:
        assert 0 < w.getnframes() / w.getframerate() < 3.0  # what played before the interruption
