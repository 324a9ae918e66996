"""The generator's norm statistics for a phrase not yet decoded, per voice.

Every AdaIN block of Kokoro's generator normalises each channel by its mean and variance over the *whole* phrase,
which sets the loudness; a piece decoded with its own statistics came out at 0.59–0.87× the RMS of the same stretch in
the whole call (docs/measurements.md, "Kokoro's graph cut in two"). What a phrase's statistics are before it is
decoded, measured here on 7 held-out phrases against their whole calls (RMS of the first 300 ms of voice; log-spectral
distance, the int8 floor being 4.7–5.0 dB):

- the phrase's own statistics (not known in advance; the reference): 0.99–1.02, 3.5 dB;
- pooled over 12 calibration phrases: 0.63–1.20, 8.6 dB — bad on short phrases, whose statistics are
  dominated by the leading pad's silence (35–50 % of their frames);
- pooled running statistics of the pieces decoded so far: worse (0.55–1.26, 12–20 dB);
- **a two-part mixture**: each statistic = p · (its value over silence) + (1 − p) · (its value over voice),
  where p is the phrase's share of pad frames (known from the durations before any decoding), the two parts
  fitted per voice by least squares over calibration phrases: 0.94–1.15, 5.0 dB. This is what is used.

Means are mixed as means, variances as second moments (var + mean²). Rows come from whole-phrase decodes (the
warm-up's calibration phrases, and every phrase decoded whole), so a new voice learns as it speaks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MIN_ROWS = 6
MIN_SPREAD = 0.08  # pad shares this far apart make the two parts separable
MAX_ROWS = 48

# Spoken at the first warm-up of a voice: pad shares from ~0.05 (a long sentence) to ~0.35 (one word).
CALIBRATION = ("Right.", "Good morning.", "Okay, thanks.", "No problem at all.", "Let me check that for you.",
               "We walked along the shore until the sun went down.",
               "It was a long and difficult winter for everyone in the small northern village by the lake.")


def variance_of(name: str) -> str:
    """The variance statistic paired with a mean one (`…/ReduceMean_output_0` → `…/ReduceMean_2_output_0`)."""
    return name.replace("/ReduceMean_output_0", "/ReduceMean_2_output_0")


class NormStats:
    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.mean_of = {variance_of(n): n for n in names if variance_of(n) != n and variance_of(n) in names}
        self._rows: list[tuple[float, float, list[np.ndarray]]] = []  # (pad share, frames, values)
        self._fit: list[tuple[np.ndarray, np.ndarray]] | None = None

    @property
    def rows(self) -> int:
        return len(self._rows)

    @property
    def ready(self) -> bool:
        if len(self._rows) < MIN_ROWS:
            return False
        shares = [r[0] for r in self._rows]
        return max(shares) - min(shares) >= MIN_SPREAD

    def add(self, pad_share: float, frames: int, values: list[np.ndarray]) -> None:
        """One whole-phrase decode's statistics (in `names` order)."""
        if len(values) != len(self.names):
            return
        index = {n: i for i, n in enumerate(self.names)}
        flat = [np.asarray(v, np.float64).reshape(-1) for v in values]
        moments = [flat[i] + flat[index[self.mean_of[n]]] ** 2 if n in self.mean_of else flat[i]
                   for i, n in enumerate(self.names)]
        self._rows.append((float(pad_share), float(frames), moments))
        del self._rows[:-MAX_ROWS]
        self._fit = None

    def predict(self, pad_share: float) -> dict[str, np.ndarray]:
        """Estimated statistics of a phrase with this pad share, as generator inputs ([1, C, 1] float32)."""
        if self._fit is None:
            self._fit = self._solve()
        # Only inside the calibrated range: extrapolated ("?!...;:" is 56 % pad) the variances went negative
        # and the generator's output to NaN.
        shares = [r[0] for r in self._rows]
        p = min(max(float(pad_share), min(shares)), max(shares))
        moment = [(p * sil + (1 - p) * voice) for sil, voice in self._fit]
        index = {n: i for i, n in enumerate(self.names)}
        out: dict[str, np.ndarray] = {}
        floor = self._floor
        for i, n in enumerate(self.names):
            v = moment[i]
            if n in self.mean_of:  # no smaller than half the least variance a calibration phrase had
                v = np.maximum(v - moment[index[self.mean_of[n]]] ** 2, floor[i])
            out[n] = v.astype(np.float32).reshape(1, -1, 1)
        return out

    @property
    def _floor(self) -> list[np.ndarray]:
        index = {n: i for i, n in enumerate(self.names)}
        out = []
        for i, n in enumerate(self.names):
            if n in self.mean_of:
                j = index[self.mean_of[n]]
                out.append(0.5 * np.min([r[2][i] - r[2][j] ** 2 for r in self._rows], axis=0))
            else:
                out.append(np.zeros(1))
        return out

    def _solve(self) -> list[tuple[np.ndarray, np.ndarray]]:
        p = np.array([r[0] for r in self._rows])
        w = np.sqrt(np.array([r[1] for r in self._rows]))[:, None]
        design = np.stack([p, 1 - p], axis=1) * w
        out = []
        for i in range(len(self.names)):
            y = np.stack([r[2][i] for r in self._rows]) * w
            coef, *_ = np.linalg.lstsq(design, y, rcond=None)
            out.append((coef[0], coef[1]))
        return out

    # ---- kept between runs (in the user cache) ----------------------------------------------------------
    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"v{j}_{i}": v for j, r in enumerate(self._rows) for i, v in enumerate(r[2])}
        meta = np.array([[r[0], r[1]] for r in self._rows])
        tmp = path.with_suffix(".tmp.npz")
        arrays["meta"] = meta
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)

    def load(self, path: Path) -> bool:
        """Rows saved before (False, and nothing loaded, if the file is missing or does not fit)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = data["meta"]
                rows = [(float(s), float(f), [np.asarray(data[f"v{j}_{i}"]) for i in range(len(self.names))])
                        for j, (s, f) in enumerate(meta)]
        except (OSError, ValueError, KeyError):
            return False
        if any(len(v) != len(self.names) for _, _, v in rows):
            return False
        self._rows, self._fit = rows, None
        return True
