"""A real device loss: the app plays to its own JACK server, which is killed mid-sentence (as when a USB
device is pulled). The request fails with a message saying what happened, and the app keeps running."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.audio, pytest.mark.models]

CHILD = Path(__file__).with_name("device_loss_child.py")


def test_killing_the_sound_server_mid_sentence_fails_the_request_with_a_clear_message(private_jack):
    # One fixed name: a killed server leaves its slot in JACK's registry, which a server of the same name
    # reuses, while fresh names would run out of slots after a few runs ("Too many servers already active").
    server, env = private_jack("voicetrace-unplug-test")
    child = subprocess.Popen([sys.executable, str(CHILD)], env=env, text=True, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stdin is not None
    line = child.stdout.readline()
    assert line.startswith("PLAYING"), line + child.stderr.read()[-2000:]
    server.kill()
    server.wait(10)
    child.stdin.write("go\n")
    child.stdin.flush()
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err[-2000:]
    result = json.loads(next(x for x in out.splitlines() if x.startswith("RESULT "))[len("RESULT "):])
    print(result)
    assert "stopped playing" in result["device_error"]
    assert result["records"] == [["failed", result["device_error"]]]
    assert "press Refresh" in result["speak_error"]  # the app says how to recover, and does not crash
