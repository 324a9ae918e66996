"""The streaming contract from the seed, plus the trace event vocabulary. Nothing heavy is imported here."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

AudioArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TtsChunk:
    """One playable piece of one request's audio (the seed's contract)."""

    request_id: str
    voice_id: str
    audio: AudioArray
    started_at_ms: float  # when synthesis of this chunk began, ms after the request's submit
    chunk_index: int
    is_final: bool


@dataclass(frozen=True)
class TtsMetrics:
    """The seed's summary record; the full set lives in `metrics.RequestMetrics`."""

    request_id: str
    time_to_first_audio_ms: float | None
    real_time_factor: float | None
    generated_audio_ms: float
    cancellation_latency_ms: float | None = None


class Ev(enum.StrEnum):
    """Kinds of trace events. Each is stamped on one clock: `time.perf_counter_ns()`."""

    SUBMIT = "submit"
    PHRASE_PLANNED = "phrase_planned"  # data: index, text, words
    SYNTH_START = "synth_start"  # data: index
    SYNTH_END = "synth_end"  # data: index, samples, rate, compute_ns, cache
    # the chunk entered the ring. data: index, samples (device rate), voiced_offset, sound_end (trailing pause)
    CHUNK_READY = "chunk_ready"
    PLAY = "play"  # a callback copied samples of a chunk. data: index, chunk_offset, n, dac_ns, faded
    UNDERRUN = "underrun"  # a callback found the ring short mid-request. data: frames, dac_ns
    CANCEL = "cancel"  # the user's interruption (click / API call)
    FLUSH_SEEN = "flush_seen"  # the audio callback took the cancel. data: dac_ns
    ENGINE_IDLE = "engine_idle"  # the worker dropped the request's queue and its in-flight run ended
    CANCEL_ACK = "cancel_ack"  # both of the above: the request is silent and the engine free
    FAILED = "failed"  # data: error
    DONE = "done"  # the last sample of the request left the callback
    REMOTE = "remote"  # a remote server's own timings arrived. data: what (first_audio | cancelled), its ms
    # Voice barge-in decided to cancel (stamped when it decided). data: speech_onset_ns (first VAD-positive
    # frame, ADC time), true_onset_ns (first sample above −40 dBFS in the microphone's residual)
    BARGE_IN = "barge_in"
    VOICE_IGNORED = "voice_ignored"  # listening ended for the request. data: too_short, own_voice (counts)


@dataclass(frozen=True)
class TraceEvent:
    kind: Ev
    t_ns: int
    request_id: str
    data: dict[str, Any] = field(default_factory=dict)
