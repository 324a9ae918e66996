"""The microphone: one PortAudio input stream whose callback copies blocks into a ring and notes when its
first frame was at the ADC, on our clock. Everything else (VAD, echo gate) reads it from another thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from ..contract import AudioArray
from .devices import OutputDevice, open_stream, resolve_input_device
from .graph import stream_rate


class Microphone:
    def __init__(self, device: str | int | None = None, blocksize: int = 256, ring_seconds: float = 10.0,
                 samplerate: int | None = None) -> None:
        self.device: OutputDevice = resolve_input_device(device)
        self.rate = int(samplerate or stream_rate(self.device))  # a sound server's graph rate (audio/graph.py)
        self.blocksize = blocksize
        self.buf = np.zeros(int(ring_seconds * self.rate), dtype=np.float32)
        self.pos = 0  # frames ever written (index = pos % len)
        self._mark_pos = 0  # the last callback's first frame and its ADC time on perf_counter_ns
        self._mark_adc = 0
        self.callback_errors = 0
        self.overflows = 0
        self._cb_t = 0
        self._started_ns = 0
        self._stream: Any = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._stream is None:
                self._started_ns = time.perf_counter_ns()
                self._stream = open_stream("input", self.device, self.rate, self.blocksize, self._callback)

    def close(self) -> None:
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None

    def seconds_since_callback(self) -> float:
        """A microphone that was unplugged (or whose server stopped) stops calling back."""
        return (time.perf_counter_ns() - max(self._cb_t, self._started_ns)) / 1e9

    def _callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        try:
            now = time.perf_counter_ns()
            self._cb_t = now
            adc, cur = time_info.inputBufferAdcTime, time_info.currentTime
            # PortAudio's stream clock → ours, as the player does for the DAC (the ADC time is in the past).
            adc_ns = now + int((adc - cur) * 1e9) if adc > 0 and cur > 0 else now
            if status:
                self.overflows += 1
            b = self.buf
            p = self.pos % len(b)
            n = min(frames, len(b) - p)
            b[p:p + n] = indata[:n, 0]
            if n < frames:
                b[:frames - n] = indata[n:frames, 0]
            self._mark_adc = adc_ns
            self._mark_pos = self.pos
            self.pos += frames
        except Exception:
            self.callback_errors += 1

    def read(self, since: int) -> tuple[int, AudioArray, int]:
        """Frames from position `since` up to now (at most the ring's length): (their first position, the
        samples, the ADC time of the first on our clock)."""
        end = self.pos
        start = max(since, end - len(self.buf) + self.blocksize)
        idx = np.arange(start, end) % len(self.buf)
        return start, self.buf[idx], self.adc_ns(start)

    def adc_ns(self, position: int) -> int:
        return self._mark_adc + int((position - self._mark_pos) * 1e9 / self.rate)
