"""Turn a streamed HTTP speech response into audio, whatever framing the server chose. Compatible servers
ignore our hints, so the response's Content-Type decides:

- raw PCM (`audio/pcm`, `audio/L16`, `application/octet-stream`): s16le mono, 24 kHz unless the type says
  `rate=` (Kokoro-FastAPI, speaches, vLLM-Omni with `pcm`, `voicetrace serve`);
- WAV (`audio/wav`, `audio/x-wav`): a header (often with unknown sizes), then PCM;
- server-sent events (`text/event-stream`): JSON events carrying base64 audio — OpenAI's
  `{"type": "speech.audio.delta", "audio": ...}` and SGLang-Omni's
  `{"object": "audio.speech.chunk", "audio": {"data", "format", "sample_rate"}}` (each a small WAV or PCM).

Each decoder is fed bytes as they arrive and returns (audio float32 mono, rate) pieces."""

from __future__ import annotations

import base64
import binascii
import json
import struct
from typing import Any

import numpy as np

from ..contract import AudioArray
from ..errors import UserError

DEFAULT_RATE = 24_000
Piece = tuple[AudioArray, int]


class StreamFormatError(UserError):
    pass


def _pcm16(data: bytes) -> AudioArray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def _downmix(audio: AudioArray, channels: int) -> AudioArray:
    if channels <= 1:
        return audio
    n = len(audio) // channels * channels
    return np.ascontiguousarray(audio[:n].reshape(-1, channels).mean(axis=1), dtype=np.float32)


class RawPcm:
    def __init__(self, rate: int = DEFAULT_RATE, channels: int = 1, sample_format: str = "s16") -> None:
        self.rate = rate
        self.channels = channels
        self.width = 4 if sample_format == "f32" else 2
        self.sample_format = sample_format
        self._carry = b""  # a sample split between two network reads

    def feed(self, data: bytes) -> list[Piece]:
        data = self._carry + data
        frame = self.width * self.channels
        cut = len(data) - len(data) % frame
        self._carry = data[cut:]
        if cut == 0:
            return []
        if self.sample_format == "f32":
            audio = np.frombuffer(data[:cut], dtype="<f4").astype(np.float32)
        else:
            audio = _pcm16(data[:cut])
        return [(_downmix(audio, self.channels), self.rate)]


class Wav:
    """A streamed WAV: walks RIFF chunks until `data`, then behaves as raw PCM of the declared format."""

    def __init__(self) -> None:
        self._head = b""
        self._pcm: RawPcm | None = None

    def feed(self, data: bytes) -> list[Piece]:
        if self._pcm is not None:
            return self._pcm.feed(data)
        self._head += data
        parsed = parse_wav_header(self._head)
        if parsed is None:
            if len(self._head) > 1 << 16:
                raise StreamFormatError("the server's WAV stream has no data chunk in its first 64 KiB")
            return []
        self._pcm, offset = parsed
        rest, self._head = self._head[offset:], b""
        return self._pcm.feed(rest)


def parse_wav_header(buf: bytes) -> tuple[RawPcm, int] | None:
    """(decoder for the samples, offset of the first sample), or None when more bytes are needed."""
    if len(buf) < 12:
        return None
    if buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
        raise StreamFormatError("the server said audio/wav but sent something that is not WAV")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while len(buf) >= pos + 8:
        cid, size = buf[pos:pos + 4], struct.unpack_from("<I", buf, pos + 4)[0]
        if cid == b"data":
            if fmt is None:
                raise StreamFormatError("the server's WAV stream has no fmt chunk before its data")
            tag, channels, rate, bits = fmt
            if tag == 3 and bits == 32:
                return RawPcm(rate, channels, "f32"), pos + 8
            if tag not in (1, 0xFFFE) or bits != 16:
                raise StreamFormatError(f"the server's WAV is {bits}-bit (format {tag}); only 16-bit PCM and "
                                        "32-bit float are supported")
            return RawPcm(rate, channels), pos + 8
        if len(buf) < pos + 8 + size:
            return None
        if cid == b"fmt ":
            tag, channels, rate = struct.unpack_from("<HHI", buf, pos + 8)
            bits = struct.unpack_from("<H", buf, pos + 22)[0]
            fmt = (tag, channels, rate, bits)
        pos += 8 + size + (size & 1)
    return None


class Sse:
    """Server-sent events with base64 audio inside JSON. `done` turns True at the stream's end marker."""

    def __init__(self) -> None:
        self._buf = b""
        self.done = False

    def feed(self, data: bytes) -> list[Piece]:
        # Normalised over the whole buffer: a CRLF split across two reads ("\r" | "\n") is one line end too
        self._buf = (self._buf + data).replace(b"\r\n", b"\n")
        out: list[Piece] = []
        while b"\n\n" in self._buf:
            block, self._buf = self._buf.split(b"\n\n", 1)
            payload = "\n".join(line[5:].lstrip() for line in block.decode("utf-8", "replace").split("\n")
                                if line.startswith("data:"))
            if payload:
                out += self._event(payload)
        return out

    def _event(self, payload: str) -> list[Piece]:
        if payload.strip() == "[DONE]":
            self.done = True
            return []
        try:
            ev = json.loads(payload)
        except ValueError as exc:
            raise StreamFormatError(f"the server sent an event that is not JSON: {payload[:60]!r}") from exc
        if not isinstance(ev, dict):
            return []
        if "error" in ev:
            err = ev["error"]
            raise UserError("the remote server failed mid-stream: "
                            + str(err.get("message", err) if isinstance(err, dict) else err)[:200])
        kind = ev.get("type") or ev.get("object")
        if kind == "speech.audio.done" or ev.get("finish_reason"):
            self.done = True
        audio = ev.get("audio")
        if audio is None and kind == "speech.audio.delta":
            audio = ev.get("delta")
        if isinstance(audio, str):  # OpenAI: the requested response_format (we ask for pcm), base64
            return _decode_b64_audio(audio, "pcm", DEFAULT_RATE)
        if isinstance(audio, dict) and isinstance(audio.get("data"), str):  # SGLang-Omni: a small file each
            return _decode_b64_audio(audio["data"], str(audio.get("format") or "wav"),
                                     int(audio.get("sample_rate") or DEFAULT_RATE))
        return []


def _decode_b64_audio(b64: str, fmt: str, rate: int) -> list[Piece]:
    try:
        raw = base64.b64decode(b64, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise StreamFormatError("the server sent audio that is not valid base64") from exc
    if raw[:4] == b"RIFF" or fmt == "wav":
        w = Wav()
        return w.feed(raw)
    if fmt != "pcm":
        raise StreamFormatError(f"the server sent {fmt} audio; ask it for pcm or wav")
    return RawPcm(rate).feed(raw)


def decoder_for(content_type: str) -> Any:
    """A decoder for the response's Content-Type, or StreamFormatError naming what came."""
    main, _, params = content_type.partition(";")
    main = main.strip().lower()
    opts = dict(p.strip().split("=", 1) for p in params.split(";") if "=" in p)
    if main in ("audio/pcm", "audio/l16", "audio/raw", "application/octet-stream", "audio/x-raw"):
        return RawPcm(int(opts.get("rate", DEFAULT_RATE)), int(opts.get("channels", 1)))
    if main in ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"):
        return Wav()
    if main == "text/event-stream":
        return Sse()
    raise StreamFormatError(f"the server answered with {main or 'no content type'}, not streamed audio",
                            "ask it for response_format pcm or wav (mp3/opus are not decoded here)")
