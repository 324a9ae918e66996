"""Joining phrases: trim the model's own silence, add the pause the punctuation asks for, and fade the
edges (3 ms) so joins never click. Runs on the session's thread, never in the callback."""

from __future__ import annotations

import numpy as np

from ..contract import AudioArray
from ..text.planner import CLAUSE, PARAGRAPH, SENTENCE

VOICED_THRESHOLD = 10 ** (-40 / 20)  # -40 dBFS: "first voiced" in DESIGN §2
_TRIM_THRESHOLD = 10 ** (-50 / 20)
PAUSE_S = {CLAUSE: 0.12, SENTENCE: 0.25, PARAGRAPH: 0.5}


def _ramp(n: int) -> AudioArray:
    return (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n + 2)[1:-1])).astype(np.float32)


def shape_chunk(audio: AudioArray, rate: int, pause_s: float, lead_ms: float = 20.0, tail_ms: float = 60.0,
                fade_ms: float = 3.0) -> AudioArray:
    loud = np.flatnonzero(np.abs(audio) > _TRIM_THRESHOLD)
    if loud.size == 0:
        body = np.zeros(0, np.float32)
    else:
        a = max(0, int(loud[0]) - int(lead_ms * rate / 1000))
        b = min(len(audio), int(loud[-1]) + 1 + int(tail_ms * rate / 1000))
        body = np.array(audio[a:b], dtype=np.float32)  # a copy: the cached original stays untouched
        n = min(int(fade_ms * rate / 1000), len(body) // 2)
        if n > 0:
            ramp = _ramp(n)
            body[:n] *= ramp
            body[-n:] *= ramp[::-1]
    return add_pause(body, rate, pause_s)


def add_pause(audio: AudioArray, rate: int, pause_s: float) -> AudioArray:
    if pause_s <= 0:
        return audio
    return np.concatenate([audio, np.zeros(int(pause_s * rate), np.float32)])


def sound_start(audio: AudioArray) -> int:
    """The first non-zero sample (the chunk's length when it is all silence)."""
    nz = np.flatnonzero(audio)
    return int(nz[0]) if nz.size else len(audio)


def sound_end(audio: AudioArray) -> int:
    """One past the last non-zero sample: where the chunk's trailing silence (its punctuation pause) begins."""
    nz = np.flatnonzero(audio)
    return int(nz[-1]) + 1 if nz.size else 0


def voiced_offset(audio: AudioArray) -> int:
    loud = np.flatnonzero(np.abs(audio) > VOICED_THRESHOLD)
    return int(loud[0]) if loud.size else -1
