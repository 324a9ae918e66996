"""The wire format shared by `voicetrace serve` and the app's Remote engine (DESIGN §5).

HTTP: OpenAI's `POST /v1/audio/speech`; `pcm` is raw s16le mono at 24 kHz, `wav` the same after a streaming
header (sizes unknown, so set to the maximum, as streaming TTS servers do).

WebSocket `/v1/stream`: JSON text messages, plus binary audio frames. A frame is
`MAGIC | flags:u8 | id_len:u8 | chunk_index:u32 (little endian) | request_id (utf-8) | PCM s16le`, so every
sample is tagged with its request and a client can drop what belongs to a cancelled one."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..contract import AudioArray

RATE = 24_000  # what OpenAI's `pcm` means, and the rate of every stream this server sends
MAGIC = b"VTA1"
FLAG_FINAL = 1
_HEAD = struct.Struct("<4sBBI")
MAX_ID_CHARS = 64

# OpenAI's voice names: a client written for OpenAI gets the engine's default voice.
OPENAI_VOICES = frozenset({"alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage",
                           "shimmer", "verse", "marin", "cedar"})
# OpenAI's model names: they mean the server's default engine.
OPENAI_MODELS = frozenset({"tts-1", "tts-1-hd", "gpt-4o-mini-tts"})


@dataclass(frozen=True)
class AudioFrame:
    request_id: str
    chunk_index: int
    final: bool
    pcm: bytes  # s16le mono at RATE


def pack_frame(request_id: str, chunk_index: int, final: bool, pcm: bytes) -> bytes:
    rid = request_id.encode("utf-8")
    return _HEAD.pack(MAGIC, FLAG_FINAL if final else 0, len(rid), chunk_index) + rid + pcm


def unpack_frame(data: bytes) -> AudioFrame:
    """Raises ValueError for anything that is not one of our frames."""
    if len(data) < _HEAD.size:
        raise ValueError("audio frame shorter than its header")
    magic, flags, id_len, index = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise ValueError("audio frame without the VTA1 marker")
    end = _HEAD.size + id_len
    pcm = data[end:]
    if len(data) < end or len(pcm) % 2:
        raise ValueError("audio frame truncated")
    return AudioFrame(data[_HEAD.size:end].decode("utf-8"), index, bool(flags & FLAG_FINAL), pcm)


def to_pcm16(audio: AudioArray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def from_pcm16(pcm: bytes) -> AudioArray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def openai_error(message: str, kind: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None) -> dict[str, object]:
    """OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}
