"""The lowest floor, imported by every package and importing none of them: the streaming contract from the
seed (`TtsChunk`), the trace event vocabulary, the sink's playback records, and the one typed record of a
finished request (`RequestMetrics`). Nothing heavy is imported here."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

AudioArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TtsChunk:
    """One playable piece of one request's audio (the seed's contract, plus its sample rate)."""

    request_id: str
    voice_id: str
    audio: AudioArray  # float32 mono
    started_at_ms: float  # when synthesis of this chunk began, ms after the request's submit
    chunk_index: int
    is_final: bool
    sample_rate: int


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
    TEXT = "text"  # streamed input: a piece of text arrived. data: piece, chars (total so far), what (feed|flush|end)
    # streamed input: the pipeline had nothing to synthesise for want of text. data: state (start | end),
    # next_index (end: the phrase the text made possible)
    TEXT_WAIT = "text_wait"
    # A chunk the local pipeline made, just before it went to the sink: which phrase it is a piece of. data:
    # index (chunk), phrase, offset (output samples of that phrase sent before it), word_times (the phrase's
    # first chunk, when the engine times words: (start, end) output samples from the chunk's start, per word)
    PIECE = "piece"
    # The listener paused / resumed playback (the whole output: every request live then gets it). data: dac_ns
    # (the first silent frame / the first frame played again, at the DAC)
    PAUSE = "pause"
    RESUME = "resume"


@dataclass(frozen=True)
class TraceEvent:
    kind: Ev
    t_ns: int
    request_id: str
    data: dict[str, Any] = field(default_factory=dict)


# What a playing sink's audio callback observed, as records its owner drains (`AudioSink.drain`).
K_PLAY, K_UNDERRUN, K_END, K_FLUSH, K_STATUS, K_PAUSE, K_RESUME = range(7)


@dataclass(frozen=True)
class PlaybackEvent:
    kind: int  # K_*
    tag: int  # the request's tag in the sink
    t_cb_ns: int  # perf_counter_ns when the callback began
    dac_ns: int  # when the first frame of this piece reaches the DAC, on the same clock
    chunk_index: int = 0  # K_FLUSH: the flush sequence number; K_UNDERRUN: missing frames
    chunk_offset: int = 0
    n: int = 0
    faded: bool = False


@dataclass
class ChunkMetrics:
    index: int
    words: int
    synth_ms: float | None
    ready_ms: float | None  # entered the sink, after submit
    play_ms: float | None  # its first sample in a callback, after submit
    slack_ms: float | None  # play - ready (> 0: it arrived before it was needed)
    inter_arrival_ms: float | None  # ready_i - ready_{i-1}
    samples: int  # output-rate samples written to the sink


@dataclass
class RequestMetrics:
    """Everything measured about one request, and where it ran: the one record that the CLI's JSON, the
    window's table, the metrics log, the server and the benchmark all format. Derived from the trace only
    (`core.metrics.derive`); a figure whose event did not happen is None, never a guess."""

    request_id: str
    engine: str
    voice: str
    text_chars: int
    outcome: str  # done | cancelled | failed | running
    ttfa_callback_ms: float | None
    ttfa_audible_ms: float | None
    ttfa_voiced_ms: float | None
    rtf: float | None
    audio_ms: float  # audio the engine produced, in ms
    compute_ms: float
    chunks: list[ChunkMetrics]
    underruns: int
    underrun_ms: float
    cancelled: bool
    cancel_to_silence_ms: float | None
    cancel_to_idle_ms: float | None
    cancellation_latency_ms: float | None
    stale_samples_after_cancel: int
    cache: dict[str, dict[str, int]] = field(default_factory=dict)
    error: str | None = None
    # The first phrase's audio came from the phrase-audio cache: its TTFA measures a cache hit, not synthesis.
    first_chunk_cached: bool = False
    # Submit → the first chunk handed to the sink (the only TTFA a sink that does not play can give: a socket,
    # a file, an iterator).
    first_chunk_ms: float | None = None
    # Remote engines: TTFA split into the server's part (request received → first chunk sent, its clock) and
    # the rest up to the first chunk's arrival here (network both ways, framing). None for local engines.
    server_ttfa_ms: float | None = None
    network_ms: float | None = None
    # Voice barge-in (None when the request was not listened to): see `core.metrics.barge_in_metrics`.
    barge_in: dict[str, Any] | None = None
    # Callback records the sink dropped (its log was full) or callbacks that raised, during this request: if
    # either is not 0 the playback figures above are incomplete.
    events_lost: int = 0
    callback_errors: int = 0
    # Streamed input (text fed in pieces; None / 0 when the text came whole): when the first piece came (after
    # submit), first piece → audible, the first phrase and the piece that completed it, and starvation — the
    # ring ran dry for want of text (counted apart from `underruns`, which mean synthesis was late).
    stream_input: bool = False
    t_first_text_ms: float | None = None
    ttfa_from_first_text_ms: float | None = None
    first_phrase_text: str | None = None
    first_phrase_completed_by: str | None = None
    text_starvations: int = 0
    text_starvation_ms: float = 0.0
    # What reached the DAC before silence (all of it when done): the words, and ms of the request's audio;
    # `heard_exact` is False when a phrase was cut inside its sound (its words then estimated, not timed).
    heard_text: str | None = None
    heard_ms: float | None = None
    heard_exact: bool | None = None
    # Time the listener held playback paused (DAC time of the first silent frame to the first frame played
    # again; a pause still open at a cancel runs to the flush). Not audio time, not an underrun.
    paused_ms: float = 0.0
    pauses: int = 0
    # Where it ran (filled by the session when it takes the record)
    engine_load_ms: float | None = None
    warmup_ms: float | None = None
    peak_rss_mb: float | None = None
    device: str | None = None
    device_rate: int | None = None
    output_latency_ms: float | None = None
    skipped_phrases: list[str] = field(default_factory=list)  # phrases with nothing speakable
    cold: bool = False  # submitted before the engine was warm (TTFA includes loading)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def hit_rate(self, cache_name: str) -> float | None:
        c = self.cache.get(cache_name)
        return c["hits"] / c["lookups"] if c and c["lookups"] else None

    # The seed's `TtsMetrics` names, for code written against it.
    @property
    def time_to_first_audio_ms(self) -> float | None:
        return self.ttfa_audible_ms

    @property
    def real_time_factor(self) -> float | None:
        return self.rtf

    @property
    def generated_audio_ms(self) -> float:
        return self.audio_ms
