"""A real stream that stops calling back: the app plays to its own JACK server, which is stopped (SIGSTOP)
mid-sentence, as a sound server that stops serving a stream would. The request fails with a message saying what
happened and what to do; once the server runs again, the next request opens a new stream and plays."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.audio]

CHILD = Path(__file__).with_name("stall_child.py")


def test_a_stopped_sound_server_fails_the_request_and_the_next_request_plays_on_a_new_stream(private_jack):
    server, env = private_jack("voicetrace-stall-test")  # its own server: never the lane's, never a user's
    child = None
    try:
        child = subprocess.Popen([sys.executable, str(CHILD)], env=env, text=True, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert child.stdout is not None and child.stdin is not None
        line = child.stdout.readline()
        assert line.startswith("PLAYING"), line + child.stderr.read()[-2000:]
        server.send_signal(signal.SIGSTOP)
        child.stdin.write("go\n")
        child.stdin.flush()
        line = child.stdout.readline()
        server.send_signal(signal.SIGCONT)
        assert line.startswith("FAILED"), line
        child.stdin.write("go\n")
        child.stdin.flush()
        out, err = child.communicate(timeout=60)
    finally:  # (the fixture lets the server go on and ends it)
        if child is not None and child.poll() is None:
            child.kill()
    assert child.returncode == 0, err[-2000:]
    result = json.loads(next(x for x in out.splitlines() if x.startswith("RESULT "))[len("RESULT "):])
    print(result)
    assert result["outcome"] == "failed" and "stopped playing" in result["error"]
    assert "pick another output or restart the sound server" in result["error"]
    assert result["again"] == "done"
