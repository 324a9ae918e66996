"""Does the microphone hear the app? The echo-path detector behind `auto`.

A microphone that hears the loudspeakers carries the app's voice: its level rises and falls with what the player
sent, a few tens to a few hundred ms later, whatever the room does to the waveform. A headset's microphone hears
the user and the room's noise, which do not follow the app's voice. So the detector correlates the two level
envelopes (10 ms frames, log levels): the far end (what the player sent, at 16 kHz) and the microphone, over the
last `WINDOW_S`, at every echo delay from 0 to `MAX_LAG_MS` (the far end is read `max_echo_lead_ms` ahead of
the microphone's ADC time, so an echo that a virtual device loops back early lands in that range too) and keeps
the best. The AEC's own figures would not do: with no echo path AEC3's suppressor still removes the user's voice
while the app speaks (its echo estimate before it has converged), so its "ERLE" reads high without any echo.

The decision (`route`): `aec3` when the best correlation reaches `ECHO_CORR`; `direct` (the VAD reads the
microphone, as headphones mode) when, over a window with enough of the app's voice in it (`MIN_FAR_S`), it stays
under `NO_ECHO_CORR`; in between, or while the app is silent, the last decision stands. Measured offline
(`scripts/echo_path_try.py`): see the constants.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

FRAME = 160  # 10 ms at 16 kHz
FLOOR_DB = -75.0  # levels are clipped here: below it, silence (a digital zero and a quiet noise floor alike)
LOUD_DB = -45.0  # a far-end frame this loud counts as the app speaking (evidence)
WINDOW_S = 1.0
MAX_LAG_MS = 400.0
EVERY = 10  # frames between decisions (100 ms)
MIN_FAR_S = 0.4  # at least this much of the app speaking in the window before deciding anything
ECHO_CORR = 25.0
NO_ECHO_CORR = 10.0


def level_db(x: np.ndarray) -> float:
    e = float(np.dot(x, x)) / max(1, len(x))
    return max(FLOOR_DB, 10 * math.log10(e + 1e-20))


class EchoPathDetector:
    """Fed the microphone and the far end at 16 kHz, aligned as the canceller gets them (`push`); says whether the
    microphone hears the app (`route`, `reason`, `correlation`)."""

    def __init__(self, window_s: float = WINDOW_S, max_lag_ms: float = MAX_LAG_MS, min_far_s: float = MIN_FAR_S,
                 echo_corr: float = ECHO_CORR, no_echo_corr: float = NO_ECHO_CORR) -> None:
        self.window = round(window_s * 100)
        self.max_lag = round(max_lag_ms / 10)
        self.min_far = round(min_far_s * 100)
        self.echo_corr, self.no_echo_corr = echo_corr, no_echo_corr
        self._mic_buf: deque[np.ndarray] = deque(maxlen=self.window)  # 10 ms frames: the window
        self._far_buf: deque[np.ndarray] = deque(maxlen=self.window + self.max_lag)  # and the largest delay before
        self._far: deque[float] = deque(maxlen=self.window)  # the far end's level per frame over the window
        self._near_rest = np.zeros(0, np.float32)
        self._far_rest = np.zeros(0, np.float32)
        self.route: str | None = None  # None until the first decision; then "aec3" | "direct"
        self.reason = "the app has not spoken yet: nothing to tell by"
        self.correlation: float | None = None  # the last best correlation computed
        self.changes = 0  # decisions that reversed an earlier one
        self._since = 0  # frames since the last evaluation

    def push(self, mic: np.ndarray, far: np.ndarray) -> None:
        """Microphone and far end samples (16 kHz, the same span); re-decides every 100 ms."""
        self._near_rest = np.concatenate([self._near_rest, np.asarray(mic, np.float32)])
        self._far_rest = np.concatenate([self._far_rest, np.asarray(far, np.float32)])
        frames = min(len(self._near_rest), len(self._far_rest)) // FRAME
        for k in range(frames):
            a = k * FRAME
            self._mic_buf.append(self._near_rest[a:a + FRAME])
            self._far_buf.append(self._far_rest[a:a + FRAME])
            self._far.append(level_db(self._far_rest[a:a + FRAME]))
            self._since += 1
            if self._since >= EVERY:
                self._since = 0
                self._decide()
        self._near_rest = self._near_rest[frames * FRAME:]
        self._far_rest = self._far_rest[frames * FRAME:]

    def best_correlation(self) -> tuple[float, int]:
        """(how far the best echo delay stands out of the others, that delay in samples): the phase transform's
        cross-correlation (GCC-PHAT) of the microphone with the far end over the window, at every delay from 0 to
        the largest, its peak over the median of its magnitude. Every frequency the app spoke at counts alike, so
        a linear echo path — a tap or a room — makes one delay stand out whatever its level; speech, noise or
        silence in the microphone that is not the app's makes none (the peak of a few thousand random values)."""
        mic = np.concatenate(self._mic_buf).astype(np.float64)
        far = np.concatenate(self._far_buf).astype(np.float64)
        lags = self.max_lag * FRAME
        far = np.concatenate([np.zeros(max(0, len(mic) + lags - len(far))), far])  # a fresh detector: silence before
        if float(np.dot(mic, mic)) < 1e-12 or float(np.dot(far, far)) < 1e-12:
            return 0.0, 0
        n = 1 << (len(mic) + len(far) - 1).bit_length()
        cross = np.fft.rfft(far, n) * np.conj(np.fft.rfft(mic, n))  # r[k] = Σ far[t + k]·mic[t]
        cross /= np.abs(cross) + 1e-3 * float(np.max(np.abs(cross)))
        cc = np.abs(np.fft.irfft(cross, n)[:lags + 1])  # k = lags − the echo's delay
        k = int(np.argmax(cc))
        return float(cc[k] / (np.median(cc) + 1e-12)), lags - k

    def far_speaking_s(self) -> float:
        """How much of the app's voice is in the window (the far end over the microphone's window's span)."""
        far = np.asarray(self._far, np.float64)[-self.window:]
        return float(np.count_nonzero(far >= LOUD_DB)) / 100

    def _decide(self) -> None:
        if len(self._mic_buf) < self.min_far or self.far_speaking_s() * 100 < self.min_far:
            return  # too little of the app in the window: the last decision stands
        corr, lag = self.best_correlation()
        self.correlation = round(corr, 1)
        if corr >= self.echo_corr:
            route = "aec3"
            why = (f"the microphone hears the app (its level follows the app's voice {lag / 16:.0f} ms later, "
                   f"correlation {corr:.2f})")
        elif corr < self.no_echo_corr:
            route = "direct"
            why = f"the microphone does not hear the app (correlation with the app's voice {corr:.2f})"
        else:
            return
        if self.route is not None and route != self.route:
            self.changes += 1
        self.route, self.reason = route, why
