"""Joining phrases: trim the model's own silence, add the pause the punctuation asks for, and fade the
edges (3 ms) so joins never click. Runs on the session's thread, never in the callback."""

from __future__ import annotations

import numpy as np

from ..contract import AudioArray
from ..text.planner import CLAUSE, PARAGRAPH, SENTENCE

VOICED_THRESHOLD = 10 ** (-40 / 20)  # -40 dBFS: "first voiced" in docs/metrics.md, "Per request"
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


class PieceShaper:
    """Shapes a phrase that arrives in pieces as `shape_chunk` shapes a whole one: the model's leading silence
    trimmed (20 ms kept) and faded in on the first piece that sounds, the trailing silence trimmed and faded
    out on the last; the pieces between untouched (a fade there would dip the voice at every join). Word times
    (engine samples from the phrase's first raw sample) come out relative to its first sample sent, at the
    output rate (`ratio` = output rate / engine rate)."""

    def __init__(self, ratio: float = 1.0, lead_ms: float = 20.0, tail_ms: float = 60.0, fade_ms: float = 3.0) -> None:
        self.ratio = ratio
        self.lead_ms, self.tail_ms, self.fade_ms = lead_ms, tail_ms, fade_ms
        self._dropped: dict[int, int] = {}  # phrase → raw samples trimmed before its first sent sample
        self._times: dict[int, list[tuple[int, int]] | None] = {}  # phrase → word times not yet sent
        self._started: set[int] = set()

    def started(self, phrase: int) -> bool:
        return phrase in self._started

    def piece(self, phrase: int, audio: AudioArray, rate: int,
              word_times: list[tuple[int, int]] | None) -> tuple[AudioArray, list[tuple[int, int]] | None]:
        """A piece that is not the phrase's last: (what to send, word times when it is the first sent)."""
        if word_times is not None:
            self._times[phrase] = word_times
        if phrase in self._started:
            return audio, None
        loud = np.flatnonzero(np.abs(audio) > _TRIM_THRESHOLD)
        if loud.size == 0:  # still the model's leading silence
            self._dropped[phrase] = self._dropped.get(phrase, 0) + len(audio)
            return np.zeros(0, np.float32), None
        a = max(0, int(loud[0]) - int(self.lead_ms * rate / 1000))
        body = np.array(audio[a:], dtype=np.float32)
        n = min(int(self.fade_ms * rate / 1000), len(body) // 2)
        if n > 0:
            body[:n] *= _ramp(n)
        self._dropped[phrase] = self._dropped.get(phrase, 0) + a
        self._started.add(phrase)
        return body, self._shifted(phrase)

    def last(self, phrase: int, audio: AudioArray, rate: int,
             word_times: list[tuple[int, int]] | None) -> tuple[AudioArray, list[tuple[int, int]] | None]:
        """The phrase's last piece (or its only one)."""
        if word_times is not None:
            self._times[phrase] = word_times
        if phrase not in self._started:
            loud = np.flatnonzero(np.abs(audio) > _TRIM_THRESHOLD)
            self._dropped[phrase] = self._dropped.get(phrase, 0) + (
                max(0, int(loud[0]) - int(self.lead_ms * rate / 1000)) if loud.size else len(audio))
            self._started.add(phrase)
            return shape_chunk(audio, rate, 0.0, self.lead_ms, self.tail_ms, self.fade_ms), self._shifted(phrase)
        loud = np.flatnonzero(np.abs(audio) > _TRIM_THRESHOLD)
        if loud.size == 0:
            return np.zeros(0, np.float32), None
        body = np.array(audio[:min(len(audio), int(loud[-1]) + 1 + int(self.tail_ms * rate / 1000))], np.float32)
        n = min(int(self.fade_ms * rate / 1000), len(body) // 2)
        if n > 0:
            body[-n:] *= _ramp(n)[::-1]
        return body, None

    def _shifted(self, phrase: int) -> list[tuple[int, int]] | None:
        times = self._times.pop(phrase, None)
        if times is None:
            return None
        d = self._dropped.get(phrase, 0)
        return [(max(0, round((a - d) * self.ratio)), max(0, round((b - d) * self.ratio))) for a, b in times]


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
