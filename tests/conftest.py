"""Shared fixtures. Audio tests play to the JACK dummy device (`make test` starts it before pytest, since
PortAudio must find the server when it initialises; started here too when run by hand)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("JACK_NO_START_SERVER", "1")
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


def _warm_worker(model_id: str):
    from voicetrace.engines import create_engine
    from voicetrace.models import find_model
    from voicetrace.worker import EngineWorker

    worker = EngineWorker(create_engine(find_model(model_id))).start()
    worker.wait_ready(300)
    return worker


@pytest.fixture(scope="session")
def piper_worker():
    worker = _warm_worker("piper")
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def kokoro_worker():
    worker = _warm_worker("kokoro")
    yield worker
    worker.stop()


@pytest.fixture()
def player(jack):
    from voicetrace.audio.player import Player

    p = Player()
    p.start()
    yield p
    p.close()
