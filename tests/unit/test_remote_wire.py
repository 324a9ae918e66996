"""The remote wire formats without a network: our frame header, and the decoders for PCM, WAV and SSE fed
at arbitrary byte boundaries (a network read can split anything)."""

from __future__ import annotations

import base64
import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicetrace.audio.encode import streaming_wav_header
from voicetrace.contract import PhrasePlanned, Piece, SynthEnd
from voicetrace.errors import UserError
from voicetrace.remote.decode import RawPcm, Sse, StreamFormatError, Wav, decoder_for
from voicetrace.remote.protocol import chunk_from_wire, chunk_to_wire, pack_frame, to_pcm16, unpack_frame

SAMPLES = (np.sin(np.arange(3000) / 7.0) * 0.5).astype(np.float32)
PCM = to_pcm16(SAMPLES)


def feed_split(decoder, data: bytes, cuts: list[int]):
    out = []
    prev = 0
    for c in [*sorted(set(cuts)), len(data)]:
        out += decoder.feed(data[prev:c])
        prev = c
    return out


def joined(pieces) -> np.ndarray:
    return np.concatenate([a for a, _ in pieces]) if pieces else np.zeros(0, np.float32)


@given(st.lists(st.integers(0, len(PCM)), max_size=20))
@settings(max_examples=60, deadline=None)
def test_raw_pcm_survives_any_split(cuts):
    got = joined(feed_split(RawPcm(), PCM, cuts))
    assert np.array_equal(got, np.frombuffer(PCM, "<i2").astype(np.float32) / 32768)


@given(st.lists(st.integers(0, len(PCM) + 80), max_size=20))
@settings(max_examples=60, deadline=None)
def test_streamed_wav_with_extra_chunks_survives_any_split(cuts):
    head = streaming_wav_header(16_000)
    # a LIST chunk between fmt and data, as some encoders write
    extra = b"LIST" + struct.pack("<I", 6) + b"INFOab"
    data = head[:36] + extra + head[36:] + PCM
    pieces = feed_split(Wav(), data, cuts)
    assert all(rate == 16_000 for _, rate in pieces)
    assert len(joined(pieces)) == len(SAMPLES)


def test_wav_that_is_not_wav_is_named():
    with pytest.raises(StreamFormatError, match="not WAV"):
        Wav().feed(b"ID3\x03" + b"\x00" * 40)


@given(st.lists(st.integers(0, 20_000), max_size=12))
@settings(max_examples=40, deadline=None)
def test_sse_events_survive_any_split(cuts):
    parts = np.array_split(SAMPLES, 3)
    events = [json.dumps({"type": "speech.audio.delta", "audio": base64.b64encode(to_pcm16(p)).decode()})
              for p in parts]
    data = "".join(f"data: {e}\r\n\r\n" for e in events).encode() + b'data: {"type": "speech.audio.done"}\n\n'
    sse = Sse()
    pieces = feed_split(sse, data, [c for c in cuts if c < len(data)])
    assert len(joined(pieces)) == len(SAMPLES) and sse.done


def test_sse_error_event_becomes_the_request_error():
    with pytest.raises(UserError, match="quota exceeded"):
        Sse().feed(b'data: {"error": {"message": "quota exceeded"}}\n\n')


@pytest.mark.parametrize(("ctype", "kind"), [
    ("audio/pcm", RawPcm), ("audio/L16; rate=16000; channels=1", RawPcm), ("application/octet-stream", RawPcm),
    ("audio/wav", Wav), ("audio/x-wav", Wav), ("text/event-stream; charset=utf-8", Sse),
])
def test_decoder_is_chosen_by_content_type(ctype, kind):
    assert isinstance(decoder_for(ctype), kind)


def test_pcm_rate_from_content_type():
    assert decoder_for("audio/L16; rate=16000").rate == 16_000


@pytest.mark.parametrize("ctype", ["audio/mpeg", "application/json", ""])
def test_undecodable_content_type_is_a_clear_error(ctype):
    with pytest.raises(StreamFormatError, match="not streamed audio"):
        decoder_for(ctype)


@given(st.text(min_size=1, max_size=64), st.integers(0, 2**32 - 1), st.booleans(), st.binary(max_size=64))
def test_frame_header_round_trips(rid, index, final, body):
    pcm = body[: len(body) // 2 * 2]
    rid = rid.encode("utf-8")[:200].decode("utf-8", "ignore") or "x"
    if len(rid.encode()) > 255:
        return
    f = unpack_frame(pack_frame(rid, index, final, pcm))
    assert (f.request_id, f.chunk_index, f.final, f.pcm) == (rid, index, final, pcm)


@pytest.mark.parametrize("data", [b"", b"VTA", b"XXXX\x00\x00\x00\x00\x00\x00", b"VTA1\x00\x05\x00\x00\x00\x00ab"])
def test_bad_frames_are_rejected(data):
    with pytest.raises(ValueError):
        unpack_frame(data)


def test_chunk_metadata_survives_the_wire_as_the_server_wrote_it():
    piece = Piece(1, "r", index=3, phrase=2, offset=480, word_times=((0, 100), (120, 300)))
    planned = PhrasePlanned(1, "r", index=2, text="Hello there", words=2, first_word=5, total_words=9)
    end = SynthEnd(1, "r", index=2, samples=4800, rate=24_000, compute_ns=12_345_678,
                   cache=(("phonemes", True), ("phrase_audio", False)))
    wire = json.loads(json.dumps(chunk_to_wire(3, 960, False, 41.23456, piece, planned, end)))
    c = chunk_from_wire(wire)
    assert (c.index, c.samples, c.final, c.phrase, c.offset) == (3, 960, False, 2, 480)
    assert (c.text, c.words, c.first_word, c.total_words) == ("Hello there", 2, 5, 9)
    assert c.word_times == ((0, 100), (120, 300))
    assert c.compute_ms == 12.346 and c.server_ms == 41.235
    assert c.cache == (("phonemes", True), ("phrase_audio", False))


def test_chunk_metadata_without_its_events_takes_the_defaults():
    c = chunk_from_wire(json.loads(json.dumps(chunk_to_wire(7, 10, True, 1.0, None, None, None))))
    assert (c.phrase, c.offset, c.text, c.words, c.word_times, c.compute_ms, c.cache) == (7, 0, "", 0, None, None, ())
    assert chunk_from_wire({"index": 4}).phrase == 4  # an older server's message: only what it sent
