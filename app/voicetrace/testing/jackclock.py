"""JACK's own clock and port latencies, read through libjack (JACK-Client does not wrap them): shared by the
test injector and the benchmark's independent recorder."""

from __future__ import annotations

import ctypes
import time
from typing import Any


class JackTime:
    """JACK's time functions that JACK-Client does not wrap, through libjack itself."""

    class _Range(ctypes.Structure):
        _fields_ = [("min", ctypes.c_uint32), ("max", ctypes.c_uint32)]

    def __init__(self, client: Any) -> None:
        import jack

        lib = ctypes.CDLL("libjack.so.0")
        lib.jack_frames_to_time.restype = ctypes.c_uint64
        lib.jack_frames_to_time.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.jack_get_time.restype = ctypes.c_uint64
        lib.jack_port_get_latency_range.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(self._Range)]
        self._lib = lib
        self._ffi = jack._ffi
        self._client = self._ptr(client)

    def _ptr(self, obj: Any) -> int:
        return int(self._ffi.cast("uintptr_t", obj._ptr))

    def frames_to_us(self, frame: int) -> int:
        return int(self._lib.jack_frames_to_time(self._client, frame))

    def playback_latency(self, port: Any) -> int:
        return self._latency(port, 1)  # JackPlaybackLatency

    def capture_latency(self, port: Any) -> int:
        return self._latency(port, 0)  # JackCaptureLatency

    def _latency(self, port: Any, mode: int) -> int:
        r = self._Range()
        self._lib.jack_port_get_latency_range(self._ptr(port), mode, ctypes.byref(r))
        return int(r.max)

    def offset_ns(self) -> int:
        """perf_counter_ns − jack_get_time, from the tightest of several bracketed paired reads."""
        best = None
        for _ in range(50):
            a = time.perf_counter_ns()
            j = self._lib.jack_get_time()
            b = time.perf_counter_ns()
            if best is None or b - a < best[0]:
                best = (b - a, (a + b) // 2 - j * 1000)
        assert best is not None
        return best[1]
