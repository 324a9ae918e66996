"""Shared fixtures. Audio tests play to the JACK dummy device (`make test` starts it before pytest, since
PortAudio must find the server when it initialises; started here too when run by hand). Real servers for the
remote backend run in a thread of this process (uvicorn on a free loopback port) over the warm engines."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("JACK_NO_START_SERVER", "1")
# The test lane's own JACK server (scripts/jack-dummy.sh), never the user's `default` one.
os.environ.setdefault("JACK_DEFAULT_SERVER", "voicetrace-test")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the window tests draw offscreen; one test uses Xvfb


def _jack_running() -> bool:
    try:
        return subprocess.run(["jack_lsp"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


JACK_OK = _jack_running() or subprocess.run(["bash", str(ROOT / "scripts/jack-dummy.sh"), "start"]).returncode == 0


@pytest.fixture(scope="session")
def jack() -> None:
    if not JACK_OK:
        pytest.fail("the JACK dummy device is not running and could not be started (run `make test`)")


def _warm_source(model_id: str):
    from voicetrace.core.pipeline import LocalSource

    source = LocalSource.load(model_id)
    source.wait_ready(300)
    return source


@pytest.fixture()
def private_jack():
    """Starts a JACK dummy server of the given name for one test (one it may kill or stop: never the lane's,
    never a user's) and returns it with the environment that makes a child process play to it."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
        if shutil.which("jackd") is None:
            pytest.fail("jackd is missing: run `make setup-test`")
        server = subprocess.Popen(["jackd", "-n", name, "-d", "dummy", "-r", "24000", "-p", "256"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(server)
        for _ in range(100):  # wait until the server answers
            if subprocess.run(["jack_lsp", "-s", name], capture_output=True).returncode == 0:
                break
            assert server.poll() is None, "the test's own jackd exited at start"
            time.sleep(0.1)
        else:
            pytest.fail("the test's own jackd did not answer within 10 s")
        return server, dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")

    yield start
    for server in started:
        if server.poll() is None:
            server.send_signal(signal.SIGCONT)
            server.kill()
            server.wait(10)


@pytest.fixture(scope="module")
def fake():
    """A fast fake engine in two pieces a phrase (the agent-framework tests)."""
    from voicetrace.testing.fakes import FakeCost, fake_source

    src = fake_source(FakeCost(rtf=0.05, audio_s_per_char=0.01), pieces=2)
    yield src
    src.stop()


@pytest.fixture(scope="module")
def slow_fake():
    """Synthesis at real time: a long reply is still being made when the interruption comes."""
    from voicetrace.testing.fakes import FakeCost, fake_source

    src = fake_source(FakeCost(rtf=1.0, audio_s_per_char=0.02), pieces=2)
    yield src
    src.stop()


@pytest.fixture(scope="session")
def piper_source():
    source = _warm_source("piper")
    yield source
    source.stop()


@pytest.fixture(scope="session")
def kokoro_source():
    source = _warm_source("kokoro")
    yield source
    source.stop()


@pytest.fixture(scope="session")
def user_line(kokoro_source):
    """A user's "Wait, stop, …" (Kokoro, another voice than the app's) and the frame where its voice starts."""
    import numpy as np

    kokoro_source.engine.clear_cancel()
    audio = kokoro_source.engine.synthesize("Wait, stop, that is not what I asked for.", "jf_alpha", 1.0,
                                            use_cache=False).audio.astype(np.float32)
    return audio, int(np.flatnonzero(np.abs(audio) > 0.01)[0])


@pytest.fixture()
def device():
    """The real player on a software clock (testing/fakes.py): no sound card, no JACK — the fast lane."""
    from voicetrace.testing.fakes import VirtualPlayer

    p = VirtualPlayer()
    p.start()
    yield p
    p.close()


@pytest.fixture()
def player(jack):
    from voicetrace.audio.player import Player

    p = Player()
    p.start()
    yield p
    p.close()


# ---- the remote backend -----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadServer:
    def __init__(self, app: Any) -> None:
        import uvicorn

        from voicetrace.server.run import WS_MAX_BYTES

        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    ws_max_size=WS_MAX_BYTES, timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, name="test-uvicorn", daemon=True)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture()
def serve_app() -> Iterator[Callable[[Any], ThreadServer]]:
    """Start any ASGI app on a free port for this test; stopped after it."""
    started: list[ThreadServer] = []

    def start(app: Any) -> ThreadServer:
        srv = ThreadServer(app).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture()
def make_service(kokoro_source, piper_source):
    """A SpeechService over the session's warm workers, with the limits a test asks for."""
    from voicetrace.server.service import Limits, SpeechService

    made: list[Any] = []

    def make(token: str | None = None, **limits: Any) -> Any:
        svc = SpeechService(["kokoro", "piper"], limits=Limits(**limits),
                            sources={"kokoro": kokoro_source, "piper": piper_source})
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()


@pytest.fixture()
def server(make_service, serve_app):
    """`voicetrace serve`'s app with default limits, no token."""
    from voicetrace.server.app import build_app

    svc = make_service()
    srv = serve_app(build_app(svc))
    srv.service = svc
    return srv
