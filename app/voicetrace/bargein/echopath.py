"""Does the microphone hear the app? The echo-path detector behind `auto`.

A microphone that hears the loudspeakers carries the app's voice through a linear path (a tap, a room): at some
delay its every frequency follows what the player sent. A headset's microphone hears the user and the room's
noise, which do not. So the detector takes the phase transform's cross-correlation (GCC-PHAT) of the microphone
with the far end (both at 16 kHz as AEC3 gets them) over the last `WINDOW_S`, at every echo
delay from 0 to `MAX_LAG_MS` (the far end is read `max_echo_lead_ms` ahead of the microphone's ADC time, so an
echo a virtual device loops back early lands in that range too), and scores how far its best delay stands out:
the peak over the median of the magnitudes. The AEC's own figures would not do: with no echo path AEC3's
suppressor still removes the user's voice while the app speaks, so its "ERLE" reads high without any echo.

The decision (`route`): `aec3` when the score reaches `ECHO_CORR` twice in a row at the same delay (±`SAME_LAG_MS`);
`direct` (the VAD reads the microphone, as headphones mode) when, over a window with enough of the app's voice in
it (`MIN_FAR_S`), it is under `NO_ECHO_CORR`; in between, or while the app is silent, the last decision stands.
Why `aec3` needs a second look and `direct` does not: an echo path never scored under 15, but the user's voice can
line up with the app's for a moment — live, once in CI; offline, 15 of 593 onsets of a user's line slid over
Piper's paragraph flipped the route with one look (scores up to 44; never two looks in a row at one delay:
`scripts/echo_path_onsets.py`) — while a real echo stays at its delay.

Offline (`scripts/echo_path_try.py`, Piper's voice as the far end; rooms RT60 0.3/0.5/0.8 s at speaker level and
20 dB quieter, echo delays 0-300 ms, a fan at −50 dBFS; headsets hearing silence, a fan, typing, a user's lines):
an echo path scored 29-517 alone and 15-189 with a user talking over it; a microphone not hearing the app 0-20
(silence 0, a fan 5-8, typing 6-17, the user's voice 5-19). Every case was decided right, a headset 0.5 s into
the app's voice, an echo path 0.6-0.7 s (two looks), none changed its mind; a headset unplugged mid-paragraph
was seen in 0.35 s, plugged in in 1.19 s (when one look sufficed: 0.11 and 1.10 s).
(Level envelopes were tried first: the user's voice alone correlated up to 0.9 with the app's.)
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

FRAME = 160  # 10 ms at 16 kHz
SUB = 1  # 16 kHz (at 8 kHz, SUB = 2, echo and headset overlapped offline: 7.6-19 vs 4.8-19)
FLOOR_DB = -75.0  # levels are clipped here: below it, silence (a digital zero and a quiet noise floor alike)
HEARD_DB = -60.0  # a microphone frame this loud has something in it to tell by (a real one's noise floor, a voice)
LOUD_DB = -45.0  # a far-end frame this loud counts as the app speaking (evidence)
WINDOW_S = 1.0
MAX_LAG_MS = 400.0
# frames between decisions: 100 ms until the first (it arms barge-in), then 250 ms (re-deciding every 100 ms, the
# listener fell behind real time live on the loaded 2-core VM: 6.6 ms of CPU per 32 ms against 3.8 without it)
FIRST_EVERY = 10
EVERY = 25
MIN_FAR_S = 0.4  # at least this much of the app speaking in the window before deciding anything
ECHO_CORR = 25.0  # a headset's microphone scored ≤ 20 offline, an echo path alone ≥ 29
NO_ECHO_CORR = 10.0  # an echo path with the user talking over it scored ≥ 15
SAME_LAG_MS = 1.0  # two looks at one echo path: offline (rooms, delays 0-300 ms) its best delay never moved


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
        self._mic: deque[float] = deque(maxlen=self.window)  # the microphone's
        self._near_rest = np.zeros(0, np.float32)
        self._far_rest = np.zeros(0, np.float32)
        self.route: str | None = None  # None until the first decision; then "aec3" | "direct"
        self.reason = "the app has not spoken yet: nothing to tell by"
        self.correlation: float | None = None  # the last best correlation computed
        self.changes = 0  # decisions that reversed an earlier one
        self._echo_seen: int | None = None  # the delay of the last look that scored an echo, if the last one did
        self._since = 0  # frames since the last evaluation

    def push(self, mic: np.ndarray, far: np.ndarray) -> None:
        """Microphone and far end samples (16 kHz, the same span); re-decides every 250 ms (100 ms until the first)."""
        self._near_rest = np.concatenate([self._near_rest, np.asarray(mic, np.float32)])
        self._far_rest = np.concatenate([self._far_rest, np.asarray(far, np.float32)])
        frames = min(len(self._near_rest), len(self._far_rest)) // FRAME
        for k in range(frames):
            a = k * FRAME
            self._mic_buf.append(self._near_rest[a:a + FRAME].reshape(-1, SUB).mean(axis=1))
            self._far_buf.append(self._far_rest[a:a + FRAME].reshape(-1, SUB).mean(axis=1))
            self._far.append(level_db(self._far_rest[a:a + FRAME]))
            self._mic.append(level_db(self._near_rest[a:a + FRAME]))
            self._since += 1
            if self._since >= (EVERY if self.route is not None else FIRST_EVERY):
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
        lags = self.max_lag * FRAME // SUB
        far = np.concatenate([np.zeros(max(0, len(mic) + lags - len(far))), far])  # a fresh detector: silence before
        if float(np.dot(mic, mic)) < 1e-12 or float(np.dot(far, far)) < 1e-12:
            return 0.0, 0
        n = 1 << (len(far) - 1).bit_length()  # ≥ len(mic) + lags: no delay wraps onto another
        cross = np.fft.rfft(far, n) * np.conj(np.fft.rfft(mic, n))  # r[k] = Σ far[t + k]·mic[t]
        cross /= np.abs(cross) + 1e-3 * float(np.max(np.abs(cross)))
        cc = np.abs(np.fft.irfft(cross, n)[:lags + 1])  # k = lags − the echo's delay
        k = int(np.argmax(cc))
        return float(cc[k] / (np.median(cc) + 1e-12)), (lags - k) * SUB

    def far_speaking_s(self) -> float:
        """How much of the app's voice is in the window (the far end over the microphone's window's span)."""
        far = np.asarray(self._far, np.float64)[-self.window:]
        return float(np.count_nonzero(far >= LOUD_DB)) / 100

    def _decide(self) -> None:
        if len(self._mic_buf) < self.min_far or self.far_speaking_s() * 100 < self.min_far:
            return  # too little of the app in the window: the last decision stands
        heard = sum(1 for x in self._mic if x > HEARD_DB)
        if 0 < heard < self.min_far:
            # a microphone silent but for a short burst (a muted or gated one, and the user's first syllable):
            # the score of a burst this short is noise (offline, 24-57 at a word's onset in digital silence)
            return
        # nothing at all in the microphone while the app spoke: any echo is under −60 dBFS (the VAD's floor is −50)
        corr, lag = self.best_correlation() if heard else (0.0, 0)
        self.correlation = round(corr, 1)
        seen_before, self._echo_seen = self._echo_seen, (lag if corr >= self.echo_corr else None)
        if corr >= self.echo_corr:
            if self.route != "aec3" and (seen_before is None or abs(lag - seen_before) > SAME_LAG_MS * 16):
                return  # one look is not enough: wait for the next (250 ms; 100 ms before the first decision)
            route = "aec3"
            why = (f"the microphone hears the app (its echo {lag / 16:.0f} ms late stands out {corr:.0f}x over the "
                   "other delays)")
        elif corr < self.no_echo_corr:
            route = "direct"
            why = f"the microphone does not hear the app (no echo delay stands out: {corr:.1f}x)"
        else:
            return
        if self.route is not None and route != self.route:
            self.changes += 1
        self.route, self.reason = route, why
