"""The listener's acoustic echo canceller: WebRTC AEC3 (`pywebrtc-audio`) at 16 kHz in 10 ms frames. The near
end is the microphone; the far end is exactly what the player sent to the DAC, frame after frame on the DAC
clock, read from its scope a fixed lead ahead of the microphone's ADC time (a virtual device loops the output
back before its DAC time; AEC3's own delay estimator finds the rest — offline it held 27-31 dB of ERLE for echo
delays of 0-300 ms in a RT60 0.5 s room). Silence is fed while nothing plays, so its state stays aligned.

One AEC3 is not enough: how well it cancels depends on the echo delay to the sample. Piper's voice through a RT60
0.5 s room with the echo 962 or 965 samples (24 kHz) late: 27 dB of enhancement; 963 or 964: 11 dB, and its worst
second 8 dB — a period of 6 samples at 24 kHz, 4 at 16 kHz (AEC3's delay estimator works decimated 4×). Live, 6
fresh listeners in 22 spent seconds at 4-10 dB, where the app's own voice passed for speech. So one canceller runs
per residue of that period: four, their far ends 0-3 samples (16 kHz) later, and the residual is the one of the
canceller whose recent residual, while the app was audible, is the smallest (by a 3 dB margin: see below).
Offline, at every delay of a period: Piper ≥ 17 dB in the worst second (RT60 0.3-0.8 s), a harmonic test signal
≥ 18 dB (one canceller: -3 dB at 8 of 12 delays). Live, fresh listeners in that room (12 on Piper, 6 on Kokoro):
no second under 16 dB, 27-33 dB over the paragraph. Four cost 2.0 ms per 32 ms of microphone offline (one:
0.6 ms); the listener's thread, live, 3.2 ms of CPU (one: 1.8 ms) on the project's 2-core VM."""

from __future__ import annotations

import numpy as np

from ..contract import AudioArray

AEC_RATE = 16_000
AEC_FRAME = AEC_RATE // 100  # AEC3 works on 10 ms
PHASES = (0, 1, 2, 3)  # each canceller's far end is this many 16 kHz samples later (see above)
AUDIBLE = 1e-3  # a far-end frame with a peak above this is the app's voice (as the listener counts it)
# the residual energy each canceller is judged by: the mean over the last ~50 audible 10 ms frames (½ s), and
# another takes over only where its residual is under half (3 dB) — in double talk each suppressor treats the user's
# first word a little differently, and without that margin the judge followed the one that took most of it away
# (offline, 42 user lines over 14 recorded paragraphs: detected > 400 ms late 6 times, 2 with the margin; judged over
# 2 s instead, 4 times, and a canceller gone wrong was left too late: 11 dB in its worst second)
JUDGE_FRAMES = 50
SWITCH_RATIO = 0.5


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
    streams of the same kind, so their alignment is kept; what comes out is whole 10 ms frames. Runs one AEC3
    per phase in `PHASES` and gives the residual of the one cancelling best now (`active`)."""

    def __init__(self, mic_rate: int, far_rate: int, phases: tuple[int, ...] = PHASES) -> None:
        import soxr
        from pywebrtc_audio import EchoCanceller

        self._ecs = [EchoCanceller(sample_rate=AEC_RATE, stream_delay_ms=0) for _ in phases]
        self._lag = [np.zeros(p, np.float32) for p in phases]  # the last samples each far end still owes
        self._judge = [0.0 for _ in phases]  # smoothed residual energy while the app was audible
        self._heard = 0  # audible far-end frames so far
        self.active = 0  # the canceller whose residual comes out
        self._near_rs = soxr.ResampleStream(mic_rate, AEC_RATE, 1, dtype="float32") if mic_rate != AEC_RATE else None
        self._far_rs = soxr.ResampleStream(far_rate, AEC_RATE, 1, dtype="float32") if far_rate != AEC_RATE else None
        self._near = np.zeros(0, np.float32)
        self._far = np.zeros(0, np.float32)
        self.last_far: AudioArray = np.zeros(0, np.float32)  # the far end at 16 kHz, aligned with what `process` gave

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
            out[a:a + AEC_FRAME] = self._frame(mic[a:a + AEC_FRAME], ref[a:a + AEC_FRAME])
        self._near, self._far = self._near[n:], self._far[n:]
        self.last_far = ref
        return mic, out

    def _frame(self, mic: AudioArray, ref: AudioArray) -> AudioArray:
        audible = float(np.max(np.abs(ref), initial=0.0)) >= AUDIBLE
        if audible:
            self._heard += 1
        weight = 1.0 / min(self._heard, JUDGE_FRAMES) if audible else 0.0  # a plain mean until there are enough
        residuals = []
        for i, ec in enumerate(self._ecs):
            far = np.concatenate([self._lag[i], ref])
            self._lag[i] = far[AEC_FRAME:]
            residual = ec.process(mic.copy(), far[:AEC_FRAME].copy())
            # the echo is what tells them apart (weight 0 in silence: they all pass the room's noise alike)
            self._judge[i] += (float(np.dot(residual, residual)) - self._judge[i]) * weight
            residuals.append(residual)
        best = int(np.argmin(self._judge))
        if self._judge[best] < self._judge[self.active] * SWITCH_RATIO:
            self.active = best
        return residuals[self.active]
