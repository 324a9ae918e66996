"""One request spoken with voice barge-in on a fresh listener, a user's line played into the JACK microphone
(the barge-in tests and `scripts/bargein_auto_try.py` share it)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..bargein.listener import BargeInConfig, VoiceBargeIn
from ..contract import Play, RequestMetrics
from ..core.session import Request, Session
from ..core.source import ChunkSource
from .inject import Injector


def speak_listened(player: Any, source: ChunkSource, text: str, *, model: str = "piper",
                   config: BargeInConfig | None = None, user: tuple[np.ndarray, int] | None = None,
                   at_s: float = 1.0, speak_s: float | None = None, room: np.ndarray | None = None,
                   background: np.ndarray | None = None, rate: int = 24_000,
                   switch: tuple[float, np.ndarray | None] | None = None) -> tuple[RequestMetrics, int | None, int]:
    """Speak `text`; `user`: (clip at `rate`, the test device's, and its onset frame) played `at_s` after the
    first audio; `room`: the speakers heard through it (else the microphone hears only what is played into it);
    `switch`: (seconds after the first audio, the room from then on) — a headset unplugged (a room) or plugged in
    (None) mid-request; `speak_s`: cancel it then, as the button would, if nobody did. Returns (the record, the
    injected onset on our clock or None, the submit time)."""
    session = Session(player, {model: source})
    current: list[Request] = []
    listening = VoiceBargeIn(player, lambda: current[0] if current else None, session.cancel,
                             config=config or BargeInConfig())
    injected = None
    try:
        with Injector(room=room, background=background) as injector:
            req = session.submit(text, model)
            current.append(req)
            while not req.finished.wait(0.005) and not any(e.n for e in req.trace.of(Play)):
                pass
            first = time.monotonic()
            if switch is not None:
                req.finished.wait(switch[0])
                injector.set_room(switch[1])
            if user is not None:
                clip, onset = user
                after = max(0.0, at_s - (time.monotonic() - first))
                injected = injector.play(clip, after) + int(onset * 1e9 / rate)
            if speak_s is not None and not req.finished.wait(speak_s):
                session.cancel(req.id)
            if not req.finished.wait(60):
                raise TimeoutError("the request did not end within 60 s")
            while injector.playing:  # the rest of the user's line must not spill into the next request
                time.sleep(0.05)
            time.sleep(0.2)  # the listener notes what it ignored for this request
    finally:
        listening.close()
        session.close()
    return session.metrics(req.id), injected, req.t_submit_ns
