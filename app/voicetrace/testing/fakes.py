"""Stand-ins for the fast lane: an engine that maps text to a chosen compute time and audio length (no ONNX),
and a player on a software clock (no PortAudio device, no JACK). With both, the session's cancel path,
stale-sample count, cadence and underruns run exactly as in the product, in real time, in any test process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..audio.devices import OutputDevice
from ..audio.player import Player
from ..contract import AudioArray
from ..core.pipeline import LocalSource
from ..core.worker import EngineWorker
from ..engines.base import Engine, SynthResult
from ..engines.catalog import ModelEntry
from ..errors import SynthesisCancelled, UserError


@dataclass
class FakeCost:
    fixed_s: float = 0.02  # per call
    rtf: float = 0.1  # compute seconds per second of audio made
    audio_s_per_char: float = 0.02  # how long the audio of a character is (a short test plays quickly)


class FakeEngine(Engine):
    """Audio is a 220 Hz tone as long as `audio_s_per_char` × characters; a run takes `fixed_s` + `rtf` × that
    (slept, and aborted at once by cancel()). `fail_on`: text that makes a run raise. `pieces` > 1: each
    phrase comes in that many pieces, timed words on the first (as Kokoro's streamed generator gives them),
    each piece made in its share of the time."""

    def __init__(self, cost: FakeCost | None = None, rate: int = 24_000, fail_on: str | None = None,
                 pieces: int = 1) -> None:
        super().__init__(ModelEntry("fake", "fake", "fake engine (tests)", rate, "tone", "testing", packaged=False))
        self.cost = cost or FakeCost()
        self.fail_on = fail_on
        self.pieces = pieces
        self.runs: list[str] = []
        self._abort = threading.Event()

    def warm(self) -> None:
        self.warmup_ms = 0.0

    def voices(self) -> list[str]:
        return ["tone"]

    def check_voice(self, voice: str) -> None:
        if voice != "tone":
            raise UserError(f"unknown voice {voice!r} for fake", "choose one of: tone")

    def phonemize(self, text: str) -> str:
        return text

    def cancel(self) -> None:
        super().cancel()
        self._abort.set()

    def clear_cancel(self) -> None:
        super().clear_cancel()
        self._abort.clear()

    def _load(self) -> None:
        pass

    def _synthesize(self, text: str, voice: str, speed: float, cache_log: list[tuple[str, bool]]) -> AudioArray:
        self.runs.append(text)
        audio_s = len(text) * self.cost.audio_s_per_char / speed
        if self._abort.wait(self.cost.fixed_s + self.cost.rtf * audio_s):
            raise SynthesisCancelled()
        if self.fail_on is not None and self.fail_on in text:
            raise RuntimeError(f"fake fault on {self.fail_on!r}")
        t = np.arange(int(audio_s * self.rate), dtype=np.float32) / self.rate
        return (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)


    def synthesize_pieces(self, text: str, voice: str, speed: float, use_cache: bool = True,
                          due_ns: int | None = None, stream: bool = True) -> Iterator[SynthResult]:
        if self.pieces <= 1 or not stream:
            yield self.synthesize(text, voice, speed, use_cache)
            return
        self.runs.append(text)
        audio_s = len(text) * self.cost.audio_s_per_char / speed
        n = int(audio_s * self.rate)
        # a word lasts its characters' share (its space included), as the tone is laid out
        words, times, pos = text.split(), [], 0
        for w in words:
            a = pos * n // len(text)
            pos += len(w) + 1
            times.append((a, min(n, (pos - 1) * n // len(text))))
        tone = (0.3 * np.sin(2 * np.pi * 220.0 * np.arange(n, dtype=np.float32) / self.rate)).astype(np.float32)
        cuts = np.linspace(0, n, self.pieces + 1).astype(int)
        for k in range(self.pieces):
            t0 = time.perf_counter_ns()
            share = (cuts[k + 1] - cuts[k]) / max(1, n)
            if self._cancel_pending or self._abort.wait((self.cost.fixed_s + self.cost.rtf * audio_s) * share):
                raise SynthesisCancelled()
            yield SynthResult(tone[cuts[k]:cuts[k + 1]], self.rate, time.perf_counter_ns() - t0,
                              [], times if k == 0 else None, last=k == self.pieces - 1)


def fake_source(cost: FakeCost | None = None, **kw: Any) -> LocalSource:
    """A warm local source on a FakeEngine (the real worker and pipeline)."""
    source = LocalSource(EngineWorker(FakeEngine(cost, **kw)).start())
    source.wait_ready(10)
    return source


class _ClockStream:
    """Calls the player's callback every block on `time.perf_counter`, as PortAudio would, with a DAC time
    `latency_s` ahead."""

    def __init__(self, player: VirtualPlayer) -> None:
        self.player = player
        self.latency = player.latency_s
        self._stop = threading.Event()
        self.stalled = threading.Event()  # set: no more callbacks (a stream its sound server stopped serving)
        self._thread = threading.Thread(target=self._run, name="virtual-device", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        p = self.player
        out = np.zeros((p.blocksize, 1), np.float32)
        period = p.blocksize / p.rate
        t_next = time.perf_counter()
        while not self._stop.is_set():
            if self.stalled.is_set():
                self._stop.wait(0.005)
                continue
            now = time.perf_counter()
            info = SimpleNamespace(currentTime=now, outputBufferDacTime=now + self.latency)
            p._callback(out, p.blocksize, info, 0)
            p.sent.append(out[:, 0].copy())
            t_next += period
            delay = t_next - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


class VirtualPlayer(Player):
    """The real player (ring, callback, fades, records) on a software clock instead of a sound card; `sent`
    keeps every block the callback produced, for checking what a listener would have heard."""

    def __init__(self, rate: int = 24_000, blocksize: int = 256, latency_s: float = 0.02) -> None:
        self.latency_s = latency_s
        self.sent: list[AudioArray] = []
        super().__init__(OutputDevice(-1, "virtual", "software clock", 1, float(rate), True), blocksize=blocksize,
                         ring_seconds=30.0, samplerate=rate)

    def _open_stream(self) -> Any:
        return _ClockStream(self)

    def stall(self) -> None:
        """The stream now open stops calling back, as an ALSA stream in a PipeWire graph that a JACK client
        runs at a larger quantum did (docs/measurements.md); a stream opened after this one runs."""
        stream = self._stream
        if stream is not None:
            stream.stalled.set()
