"""A simulated room for barge-in through loudspeakers: a synthetic impulse response (the loudspeaker's direct
path, early reflections and an exponentially decaying tail of RT60 seconds, from a fixed seed), a partitioned
convolution cheap enough for a JACK period, and sounds to mix in (a fan's steady noise, typing's clicks).
Used by the room JACK client (`testing.inject.Injector(room=...)`), the barge-in tests and `bench --suite
barge-in --room`."""

from __future__ import annotations

import numpy as np

SPEED_OF_SOUND = 343.0


def room_ir(rate: int, rt60_s: float, seed: int = 7, distance_m: float = 0.5, direct_gain: float = 0.5,
            drr_db: float = 3.0) -> np.ndarray:
    """Loudspeaker → microphone: the direct path (`distance_m` away, `direct_gain` — speaker level: a laptop's
    microphone hears its own speakers at about half the level sent), eight early reflections in the first
    40 ms, then a diffuse tail decaying by 60 dB in `rt60_s`, its energy `drr_db` below the direct path's."""
    if not 0.05 <= rt60_s <= 3.0:
        raise ValueError("RT60 must be 0.05-3 s")
    rng = np.random.default_rng(seed)
    direct = round(distance_m / SPEED_OF_SOUND * rate)
    n = direct + int(1.2 * rt60_s * rate)
    ir = np.zeros(n, np.float64)
    ir[direct] = direct_gain
    for _ in range(8):  # walls, desk, screen: a few ms to 40 ms later, weaker with distance
        k = direct + int(rng.uniform(0.002, 0.040) * rate)
        ir[k] += direct_gain * rng.uniform(0.15, 0.45) * rng.choice([-1.0, 1.0])
    start = direct + int(0.005 * rate)
    t = np.arange(n - start) / rate
    tail = rng.standard_normal(n - start) * np.exp(-6.908 * t / rt60_s)  # 60 dB = e^-6.908
    target = direct_gain ** 2 * 10 ** (-drr_db / 10)
    ir[start:] += tail * np.sqrt(target / np.sum(tail ** 2))
    return ir.astype(np.float32)


def rt60_of(ir: np.ndarray, rate: int) -> float:
    """RT60 read back from an impulse response's reverberant tail (after the first 50 ms: the direct path and
    early reflections would bend the curve): Schroeder integration, the −5 to −25 dB slope × 3."""
    first = int(np.argmax(np.abs(ir) > 0)) + int(0.05 * rate)
    energy = np.cumsum((ir[first:].astype(np.float64) ** 2)[::-1])[::-1]
    db = 10 * np.log10(energy / energy[0] + 1e-30)
    i5, i25 = int(np.argmax(db <= -5)), int(np.argmax(db <= -25))
    return 3.0 * (i25 - i5) / rate


class BlockConvolver:
    """Uniformly partitioned overlap-save convolution with a fixed block (a JACK period): each block costs one
    FFT pair and a multiply-add per partition, whatever the impulse response's length."""

    def __init__(self, ir: np.ndarray, block: int) -> None:
        self.block = block
        parts = max(1, -(-len(ir) // block))
        padded = np.zeros(parts * block, np.float32)
        padded[:len(ir)] = ir
        self._h = np.fft.rfft(padded.reshape(parts, block), n=2 * block, axis=1)
        self._x = np.zeros_like(self._h)  # the spectra of the last `parts` input blocks, newest first
        self._prev = np.zeros(block, np.float32)

    def process(self, x: np.ndarray) -> np.ndarray:
        """The next stretch of output for `x`: one block, or a whole number of them (PipeWire's JACK changes
        the period as the graph's quantum changes)."""
        if len(x) != self.block:
            if len(x) % self.block:
                raise ValueError(f"{len(x)} frames: not a whole number of {self.block}-frame blocks")
            return np.concatenate([self.process(x[k:k + self.block]) for k in range(0, len(x), self.block)])
        spec = np.fft.rfft(np.concatenate([self._prev, x]))
        self._prev = np.asarray(x, np.float32).copy()
        self._x = np.roll(self._x, 1, axis=0)
        self._x[0] = spec
        y = np.fft.irfft(np.sum(self._x * self._h, axis=0), n=2 * self.block)
        return y[self.block:].astype(np.float32)


def fan_noise(seconds: float, rate: int, level_dbfs: float = -45.0, seed: int = 3) -> np.ndarray:
    """A fan: steady noise tilted towards the low frequencies (integrated white noise, high-passed at ~50 Hz)."""
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.standard_normal(int(seconds * rate)))
    x -= np.convolve(x, np.ones(rate // 50) / (rate // 50), mode="same")
    x *= 10 ** (level_dbfs / 20) / (np.sqrt(np.mean(x ** 2)) + 1e-12)
    return x.astype(np.float32)


def typing(seconds: float, rate: int, keys_per_s: float = 6.0, level_dbfs: float = -20.0, seed: int = 4
           ) -> np.ndarray:
    """Typing: 5 ms clicks (decaying noise bursts) at random moments — short, loud, not speech."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * rate), np.float32)
    click = rng.standard_normal(int(0.005 * rate)) * np.exp(-np.arange(int(0.005 * rate)) / (0.001 * rate))
    click *= 10 ** (level_dbfs / 20) / np.max(np.abs(click))
    for t in np.sort(rng.uniform(0, seconds - 0.01, int(seconds * keys_per_s))):
        k = int(t * rate)
        out[k:k + len(click)] += click.astype(np.float32)
    return out


def cough_and_knocks(rng: np.random.Generator, rate: int) -> np.ndarray:
    """A cough-like burst (~150 ms decay) and two knocks: loud, short, not speech."""
    t = np.arange(int(0.8 * rate)) / rate
    x = (0.3 * rng.standard_normal(len(t)) * np.exp(-t / 0.15)).astype(np.float32)
    for at in (0.45, 0.6):
        x[int(at * rate)] += 0.8
    return x
