"""The one encoder: every format written chunk by chunk and read back at the right length, an aborted write
leaves no file, a name with an unknown extension is a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from voicetrace.audio.encode import FORMATS, STREAM_FORMATS, WHOLE_FORMATS, AudioWriter, ChunkEncoder, format_of
from voicetrace.errors import UserError


def _tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_each_format_is_written_in_chunks_and_reads_back_at_its_length(tmp_path, ext):
    rate = 24_000
    audio = _tone(2.0, rate)
    path = tmp_path / f"speech.{ext}"
    with AudioWriter(path, rate) as w:
        for part in np.array_split(audio, 7):
            w.write(part)
    assert w.seconds == pytest.approx(2.0)
    assert path.is_file() and not list(tmp_path.glob(".*part*"))
    back, back_rate = sf.read(str(path), dtype="float32")
    assert back.ndim == 1 and back_rate in (rate, 48_000)
    assert len(back) / back_rate == pytest.approx(2.0, rel=0.04)  # codec padding only (MP3, Opus)
    # what comes back is the tone, not silence or noise
    assert 0.15 < float(np.sqrt(np.mean(back**2))) < 0.3


def test_an_aborted_write_leaves_nothing_behind(tmp_path):
    path = tmp_path / "speech.mp3"
    with pytest.raises(RuntimeError), AudioWriter(path, 24_000) as w:
        w.write(_tone(0.5, 24_000))
        raise RuntimeError("cancelled")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["speech.aiff", "speech", "speech.txt"])
def test_an_unknown_extension_is_a_clear_error(name):
    with pytest.raises(UserError, match="unknown audio format") as e:
        format_of(name)
    assert ".mp3" in e.value.fix and ".flac" in e.value.fix


@pytest.mark.parametrize("fmt", sorted(STREAM_FORMATS))
def test_a_stream_encoded_chunk_by_chunk_is_one_file_of_its_format(fmt):
    """The server's response_format: what `encode` gives as chunks come, plus `finish`, reads back as the whole
    tone (MP3 at constant bitrate with its tag's placeholder frame dropped; FLAC sent once finished)."""
    import io

    rate = 24_000
    pcm = (_tone(3.0, rate) * 32767).astype("<i2")
    enc = ChunkEncoder(fmt, rate)
    parts = [enc.encode(part.tobytes()) for part in np.array_split(pcm, 30)]
    parts.append(enc.finish())
    data = b"".join(parts)
    if fmt == "pcm":
        back = np.frombuffer(data, "<i2").astype(np.float32) / 32768
        back_rate = rate
    else:
        back, back_rate = sf.read(io.BytesIO(data), dtype="float32")
    assert len(back) / back_rate == pytest.approx(3.0, rel=0.03)
    assert 0.15 < float(np.sqrt(np.mean(back**2))) < 0.3
    sent_early = sum(1 for p in parts[:-1] if p)
    assert sent_early == 0 if fmt in WHOLE_FORMATS else sent_early >= 3  # streamed as made (bar FLAC)


def test_an_unsupported_response_format_names_the_ones_there_are():
    with pytest.raises(UserError, match="aac") as e:
        ChunkEncoder("aac", 24_000)
    assert "mp3" in e.value.fix and "opus" in e.value.fix
