"""The listener's acoustic echo canceller: WebRTC AEC3 (`pywebrtc-audio`) at 16 kHz in 10 ms frames. The near
end is the microphone; the far end is exactly what the player sent to the DAC, frame after frame on the DAC
clock, read from its scope a fixed lead ahead of the microphone's ADC time (a virtual device loops the output
back before its DAC time; AEC3's own delay estimator finds the rest — offline it held 27-31 dB of ERLE for echo
delays of 0-300 ms in a RT60 0.5 s room). Silence is fed while nothing plays, so its state stays aligned."""

from __future__ import annotations

import numpy as np

from ..contract import AudioArray

AEC_RATE = 16_000
AEC_FRAME = AEC_RATE // 100  # AEC3 works on 10 ms


def aec3_missing() -> str | None:
    """Why AEC3 cannot run here (None: it can)."""
    try:
        from pywebrtc_audio import EchoCanceller

        EchoCanceller(sample_rate=AEC_RATE)
    except Exception as exc:  # an import error, or a wheel whose library does not load on this machine
        return f"the echo canceller (pywebrtc-audio) did not load: {type(exc).__name__}: {exc}"
    return None


class EchoCanceller3:
    """Near (microphone rate) and far (player rate) in, the residual out at 16 kHz. Both are resampled by
    streams of the same kind, so their alignment is kept; what comes out is whole 10 ms frames."""

    def __init__(self, mic_rate: int, far_rate: int) -> None:
        import soxr
        from pywebrtc_audio import EchoCanceller

        self._ec = EchoCanceller(sample_rate=AEC_RATE, stream_delay_ms=0)
        self._near_rs = soxr.ResampleStream(mic_rate, AEC_RATE, 1, dtype="float32") if mic_rate != AEC_RATE else None
        self._far_rs = soxr.ResampleStream(far_rate, AEC_RATE, 1, dtype="float32") if far_rate != AEC_RATE else None
        self._near = np.zeros(0, np.float32)
        self._far = np.zeros(0, np.float32)

    def process(self, near: AudioArray, far: AudioArray) -> tuple[AudioArray, AudioArray]:
        """(the microphone at 16 kHz, the residual), for as many whole 10 ms frames as both ends now hold."""
        n16 = self._near_rs.resample_chunk(near) if self._near_rs is not None else near
        f16 = self._far_rs.resample_chunk(far) if self._far_rs is not None else far
        self._near = np.concatenate([self._near, np.asarray(n16, np.float32)])
        self._far = np.concatenate([self._far, np.asarray(f16, np.float32)])
        frames = min(len(self._near), len(self._far)) // AEC_FRAME
        n = frames * AEC_FRAME
        mic, ref = self._near[:n], self._far[:n]
        out = np.empty(n, np.float32)
        for k in range(frames):
            a = k * AEC_FRAME
            out[a:a + AEC_FRAME] = self._ec.process(mic[a:a + AEC_FRAME].copy(), ref[a:a + AEC_FRAME].copy())
        self._near, self._far = self._near[n:], self._far[n:]
        return mic, out
