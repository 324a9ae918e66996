"""One encoder for every place audio leaves the app as a file: WAV, FLAC, OGG (Vorbis), Opus, MP3 through
`soundfile` (libsndfile 1.2.2 inside its wheel writes all five). Chunks are written as they come, so a long
article is never held whole; a writer that is aborted removes its partial file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..contract import AudioArray
from ..errors import UserError

# extension → (libsndfile format, subtype); Opus in an Ogg container runs at 48 kHz only (resampled here)
FORMATS: dict[str, tuple[str, str]] = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "opus": ("OGG", "OPUS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def format_of(path: str | Path) -> str:
    """The format a file name asks for (its extension), or a UserError naming the ones there are."""
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise UserError(f"cannot write {Path(path).name!r}: unknown audio format {ext or '(no extension)'!r}",
                        "end the file name in " + ", ".join(f".{e}" for e in FORMATS))
    return ext


class AudioWriter:
    """`write(chunk)` as chunks come, then `close()`; `abort()` (or an exception inside `with`) deletes the
    partial file. Mono float32 in, at `rate`."""

    def __init__(self, path: str | Path, rate: int, fmt: str | None = None) -> None:
        import soundfile as sf

        self.path = Path(path)
        self.format = fmt or format_of(path)
        self.rate = rate
        self.frames = 0
        self._resampler: Any = None
        out_rate = rate
        if self.format == "opus" and rate not in OPUS_RATES:
            import soxr

            out_rate = 48000
            self._resampler = soxr.ResampleStream(rate, out_rate, 1, dtype="float32")
        major, subtype = FORMATS[self.format]
        self._tmp = self.path.with_name(f".{self.path.name}.part{os.getpid()}")
        try:
            self._file = sf.SoundFile(str(self._tmp), "w", samplerate=out_rate, channels=1, format=major,
                                      subtype=subtype)
        except (OSError, RuntimeError, sf.LibsndfileError) as exc:
            raise UserError(f"cannot write {self.path} ({exc})", "choose a folder you can write to") from exc

    def write(self, chunk: AudioArray) -> None:
        x = np.clip(np.asarray(chunk, np.float32).reshape(-1), -1.0, 1.0)
        self.frames += len(x)
        if self._resampler is not None:
            x = np.asarray(self._resampler.resample_chunk(x), np.float32)
        if len(x):
            self._file.write(x)

    def close(self) -> Path:
        """Finish the file and put it in place (a partial file never carries the final name)."""
        if self._resampler is not None:
            tail = np.asarray(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True), np.float32)
            if len(tail):
                self._file.write(tail)
        self._file.close()
        self._tmp.replace(self.path)
        return self.path

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()
