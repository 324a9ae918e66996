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


class _Outbox:
    """A write-only file for libsndfile's virtual I/O whose bytes are taken as they come: a write behind
    what was taken (a header patched at close: FLAC's sample count, MP3's VBR tag) is dropped — the stream
    is valid without it, its length just not stated up front."""

    def __init__(self) -> None:
        self._pos = 0
        self._end = 0
        self._taken = 0
        self._pending = bytearray()  # bytes [taken, end)

    def write(self, data: bytes) -> int:
        b = memoryview(data).cast("B")
        n = len(b)
        skip = max(0, self._taken - self._pos)
        if skip < n:
            at = self._pos + skip - self._taken
            if at > len(self._pending):
                self._pending.extend(bytes(at - len(self._pending)))
            self._pending[at:at + n - skip] = b[skip:]
        self._pos += n
        self._end = max(self._end, self._pos)
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = offset if whence == 0 else self._pos + offset if whence == 1 else self._end + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        return b""

    def take(self) -> bytes:
        out = bytes(self._pending)
        self._taken += len(out)
        self._pending = bytearray()
        return out


# response_format → (media type, the FORMATS entry that makes it; None: raw PCM, with a header for wav)
STREAM_FORMATS: dict[str, tuple[str, str | None]] = {
    "mp3": ("audio/mpeg", "mp3"),
    "opus": ("audio/ogg; codecs=opus", "opus"),
    "flac": ("audio/flac", "flac"),
    "wav": ("audio/wav", None),
    "pcm": ("audio/pcm", None),
}
# Sent once finished: a FLAC stream's header states its length (and libsndfile cannot read one whose header
# says "unknown" back: it fails seeking), so FLAC waits for the end; the others go out as they are made.
WHOLE_FORMATS = {"flac"}

_MP3_KBPS = {3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
             2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_frame_len(h: bytes) -> int:
    """Bytes in the Layer III frame whose 4-byte header is `h` (0 when it is not one)."""
    if len(h) < 4 or h[0] != 0xFF or (h[1] & 0xE0) != 0xE0 or ((h[1] >> 1) & 3) != 1:
        return 0
    version, bi, si = (h[1] >> 3) & 3, h[2] >> 4, (h[2] >> 2) & 3
    if version == 1 or bi in (0, 15) or si == 3:
        return 0
    kbps = _MP3_KBPS[3 if version == 3 else 2][bi]
    rate = _MP3_RATES[version][si]
    return (144 if version == 3 else 72) * kbps * 1000 // rate + ((h[2] >> 1) & 1)


class ChunkEncoder:
    """Encodes a stream as it is made: `encode(pcm16 bytes)` gives the bytes to send now, `finish()` the rest.
    Their concatenation is one file of the format (the server's `response_format`). PCM is passed through;
    WAV is PCM behind a header whose sizes are unknown (the stream's length is not known when it starts)."""

    def __init__(self, fmt: str, rate: int) -> None:
        import soundfile as sf

        if fmt not in STREAM_FORMATS:
            raise UserError(f"response_format {fmt[:20]!r} is not supported",
                            "use " + ", ".join(STREAM_FORMATS) + " (aac is not: libsndfile has no AAC encoder)")
        self.format = fmt
        self.media_type = STREAM_FORMATS[fmt][0]
        self.rate = rate
        self._head = streaming_wav_header(rate) if fmt == "wav" else b""
        self._whole = fmt in WHOLE_FORMATS
        # MP3: LAME's first frame is a placeholder (zeros) for the VBR tag it writes at close; sent as it is, a
        # decoder takes it for a real frame and misjudges the length (a 3 s tone read back as 0.6 s): dropped.
        self._mp3_start: bytearray | None = bytearray() if fmt == "mp3" else None
        self._box: _Outbox | None = None
        self._file: Any = None
        made_by = STREAM_FORMATS[fmt][1]
        if made_by is not None:
            major, subtype = FORMATS[made_by]
            self._box = _Outbox()
            self._file = sf.SoundFile(self._box, "w", samplerate=rate, channels=1, format=major, subtype=subtype)
            if fmt == "mp3":
                _mp3_constant_bitrate(self._file)

    def encode(self, pcm16: bytes) -> bytes:
        head, self._head = self._head, b""
        if self._file is None:
            return head + pcm16
        assert self._box is not None
        self._file.write(np.frombuffer(pcm16, dtype="<i2"))
        return head + self._out(self._box.take()) if not self._whole else b""

    def finish(self) -> bytes:
        if self._file is None:
            head, self._head = self._head, b""
            return head
        assert self._box is not None
        self._file.close()
        self._file = None
        return self._out(self._box.take(), last=True)

    def _out(self, data: bytes, last: bool = False) -> bytes:
        start = self._mp3_start
        if start is None:
            return data
        start.extend(data)
        n = _mp3_frame_len(bytes(start[:4]))
        if len(start) < max(4, n) and not last:
            return b""  # the first frame is not whole yet
        self._mp3_start = None
        if n and not any(start[6:n]):  # header, CRC/side-info start, then nothing: the tag's placeholder
            return bytes(start[n:])
        return bytes(start)


_SFC_SET_COMPRESSION_LEVEL, _SFC_SET_BITRATE_MODE, _SF_BITRATE_MODE_CONSTANT = 0x1301, 0x1305, 0


def _mp3_constant_bitrate(file: Any) -> None:
    """A streamed MP3 has no VBR tag (it is written at close, after the start was sent), so a decoder reckons
    its length from the first frame's bitrate: constant bitrate keeps that right (VBR read back 0.3 s of 3)."""
    import soundfile as sf

    level = sf._ffi.new("double*", 0.4)  # 96 kb/s for 24 kHz mono
    sf._snd.sf_command(file._file, _SFC_SET_COMPRESSION_LEVEL, level, sf._ffi.sizeof("double"))
    mode = sf._ffi.new("int*", _SF_BITRATE_MODE_CONSTANT)
    sf._snd.sf_command(file._file, _SFC_SET_BITRATE_MODE, mode, sf._ffi.sizeof("int"))


def streaming_wav_header(rate: int) -> bytes:
    """A 16-bit mono WAV header for a stream whose length is not known yet (RIFF and data sizes at their
    maximum: players read to the end)."""
    import struct

    unknown = 0xFFFFFFFF
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", unknown) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", unknown))
