"""The wire format shared by `voicetrace serve` and the app's Remote engine (docs/server.md).

HTTP: OpenAI's `POST /v1/audio/speech`; `pcm` is raw s16le mono at 24 kHz, `wav` the same after a streaming
header (sizes unknown, so set to the maximum, as streaming TTS servers do).

WebSocket `/v1/stream`: JSON text messages, plus binary audio frames. A frame is
`MAGIC | flags:u8 | id_len:u8 | chunk_index:u32 (little endian) | request_id (utf-8) | PCM s16le`, so every
sample is tagged with its request and a client can drop what belongs to a cancelled one."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..contract import AudioArray, PhrasePlanned, Piece, Remote, SynthEnd

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


# ---- the `chunk` message: what the server says of one audio chunk, beside its frame ---------------------------


@dataclass(frozen=True)
class WireChunk:
    """One `chunk` message. A phrase made in pieces (Kokoro) has its text on its first chunk (`offset` 0); a
    later one says where in the phrase it continues. Times and samples are at RATE, on the server's clock."""

    index: int
    samples: int
    final: bool
    phrase: int  # the server's phrase index
    offset: int  # samples of that phrase sent before this chunk
    text: str
    words: int
    first_word: int
    total_words: int
    word_times: tuple[tuple[int, int], ...] | None  # (start, end) samples from the chunk's start, per word
    compute_ms: float | None  # the phrase's synthesis compute (None: not known yet)
    cache: tuple[tuple[str, bool], ...]  # (cache name, hit) lookups of the phrase's run
    server_ms: float  # request received → this chunk handed to the transport


def chunk_to_wire(index: int, samples: int, final: bool, server_ms: float, piece: Piece | None,
                  planned: PhrasePlanned | None, end: SynthEnd | None) -> dict[str, object]:
    """The server's side: a chunk's message from its trace events (absent ones give the defaults)."""
    return {"index": index, "samples": samples, "final": final,
            "phrase": piece.phrase if piece is not None else index, "offset": piece.offset if piece else 0,
            "word_times": [list(w) for w in piece.word_times] if piece and piece.word_times else None,
            "text": planned.text if planned else "", "words": planned.words if planned else 0,
            "first_word": planned.first_word if planned else 0,
            "total_words": planned.total_words if planned else 0,
            "compute_ms": round(end.compute_ns / 1e6, 3) if end and end.compute_ns is not None else None,
            "cache": [list(c) for c in end.cache] if end else [], "server_ms": round(server_ms, 3)}


def chunk_from_wire(d: dict[str, Any]) -> WireChunk:
    """The client's side. Raises ValueError (or KeyError, TypeError) for a message that is not one; a field an
    older server did not send takes its default."""
    times = d.get("word_times")
    compute = d.get("compute_ms")
    return WireChunk(int(d["index"]), int(d.get("samples", 0)), bool(d.get("final", False)),
                     int(d.get("phrase", d["index"])), int(d.get("offset", 0)), str(d.get("text", "")),
                     int(d.get("words", 0)), int(d.get("first_word", 0)), int(d.get("total_words", 0)),
                     tuple((int(a), int(b)) for a, b in times) if times else None,
                     None if compute is None else float(compute),
                     tuple((str(n), bool(h)) for n, h in d.get("cache", [])), float(d.get("server_ms", 0.0)))


def remote_from_wire(t_ns: int, request_id: str, d: dict[str, Any]) -> Remote:
    """The client's side of the `first_audio` message: the server's split of its TTFA, as a trace event."""

    def ms(key: str) -> float | None:
        v = d.get(key)
        return None if v is None else float(v)

    return Remote(t_ns, request_id, what="first_audio", server_ttfa_ms=ms("server_ttfa_ms"),
                  queue_ms=ms("queue_ms"), synth_ms=ms("synth_ms"),
                  first_chunk_cached=bool(d.get("first_chunk_cached", False)))
