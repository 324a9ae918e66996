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


def test_the_cli_says_the_stream_stopped_playing_and_exits_with_an_error(private_jack):
    """`voicetrace speak` on a server stopped mid-paragraph: it fails the request (the watchdog, 1.5 s without a
    callback) and says what happened and what to do, exit status 1 — it does not wait forever."""
    import time

    server, env = private_jack("voicetrace-stall-cli")
    text = " ".join(["This paragraph is long enough to be playing when its sound server stops serving it."] * 6)
    cli = subprocess.Popen([sys.executable, "-m", "voicetrace", "speak", "--engine", "piper", text], env=env,
                           text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(600):  # until its stream is a client of the server, and has played a moment
            ports = subprocess.run(["jack_lsp", "-s", "voicetrace-stall-cli"], capture_output=True, text=True).stdout
            if "PortAudio" in ports or cli.poll() is not None:
                break
            time.sleep(0.1)
        assert cli.poll() is None, cli.communicate()[1][-2000:]
        time.sleep(1.0)
        server.send_signal(signal.SIGSTOP)
        time.sleep(4.0)  # past the watchdog's 1.5 s; the stream is closed once the server runs again
        server.send_signal(signal.SIGCONT)
        out, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 1, out + err[-2000:]
    assert "stopped playing" in err and "pick another output or restart the sound server" in err, err[-2000:]
