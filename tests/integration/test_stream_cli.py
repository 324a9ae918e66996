"""Text streamed in, from the command line: `speak --stream -` speaks a pipe as it arrives, and `voicetrace chat`
speaks a chat model's reply (a local fake OpenAI-compatible server streaming at 30 tokens/s) while it is being
written, on the JACK device. Faults of the model's server each end with a clear line and what came spoken."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from voicetrace.testing.fake_chat import REPLY, build_chat_app

pytestmark = [pytest.mark.audio, pytest.mark.models]

CLI = [sys.executable, "-m", "voicetrace"]


def _words(text: str) -> list[str]:
    return text.split()


def test_speak_stream_speaks_a_pipe_as_it_arrives(jack):
    p = subprocess.Popen([*CLI, "speak", "--engine", "piper", "--stream", "--json", "-"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdin is not None
    time.sleep(3)  # the engine warms; the first piece comes later, as from a slow program
    text = "Piped text arrives a little at a time. The speech follows it."
    for k in range(0, len(text), 6):
        p.stdin.write(text[k:k + 6])
        p.stdin.flush()
        time.sleep(0.05)
    out, err = p.communicate(timeout=120)  # closes standard input: the end of the text
    assert p.returncode == 0, err[-2000:]
    rec = json.loads(out)
    assert rec["outcome"] == "done" and rec["stream_input"] and rec["underruns"] == 0
    assert rec["ttfa_from_first_text_ms"] is not None and rec["t_first_text_ms"] > 0
    assert _words(rec["heard_text"]) == _words(text)


@pytest.fixture()
def chat_server(serve_app):
    return serve_app(build_chat_app(tokens_per_s=30.0, token="sk-test"))


def _chat(server, *args: str, prompt: str = "Tell me about streaming speech.", timeout: float = 120):
    return subprocess.run([*CLI, "chat", "--llm", server.http + "/v1", "--model", "fake", "--token", "sk-test",
                           "--engine", "piper", "--json", *args, prompt], capture_output=True, text=True,
                          timeout=timeout)


def test_chat_speaks_the_whole_reply_as_it_is_written(jack, chat_server):
    p = _chat(chat_server)
    assert p.returncode == 0, p.stderr[-2000:]
    rec = json.loads(p.stdout)  # standard output holds only the record
    assert REPLY[:40] in p.stderr  # the reply was printed as it came
    assert rec["outcome"] == "done" and rec["reply"] == REPLY and rec["stream_input"]
    assert rec["ttfa_from_first_text_ms"] is not None and rec["underruns"] == 0
    assert _words(rec["heard_text"]) == _words(REPLY)


def test_cancelling_a_chat_reports_what_was_heard(jack, chat_server):
    p = _chat(chat_server, "--cancel-after", "6")
    assert p.returncode == 0, p.stderr[-2000:]
    rec = json.loads(p.stdout)
    assert rec["outcome"] == "cancelled" and rec["stale_samples_after_cancel"] == 0
    heard = _words(rec["heard_text"])
    assert 0 < len(heard) < len(_words(REPLY)) and heard == _words(REPLY)[:len(heard)]


@pytest.mark.parametrize(("prompt", "args", "said", "spoken"), [
    ("stall please", ["--stall", "1"], "sent nothing for 1 s", True),
    ("malformed please", [], "not a server-sent event", True),
    ("drop please", [], "dropped the reply", True),
    ("error please", [], "answered 404", False),
])
def test_chat_server_faults_are_said_and_what_came_is_spoken(jack, chat_server, prompt, args, said, spoken):
    p = _chat(chat_server, *args, prompt=prompt)
    assert said in p.stderr, p.stderr[-2000:]
    rec = json.loads(p.stdout)
    assert rec["text_error"] and said in rec["text_error"]
    if spoken:  # the words that came before the fault were spoken
        assert rec["outcome"] == "done" and rec["heard_text"]
    else:
        assert rec["outcome"] == "failed" and p.returncode == 1


def test_chat_server_refusing_the_token_or_unreachable(jack, chat_server):
    p = subprocess.run([*CLI, "chat", "--llm", chat_server.http + "/v1", "--model", "fake", "--token", "wrong",
                        "--engine", "piper", "Hi"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "refused the token" in p.stderr
    p = subprocess.run([*CLI, "chat", "--llm", "http://127.0.0.1:9/v1", "--model", "fake", "--engine", "piper",
                        "Hi"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "cannot reach the chat server" in p.stderr
