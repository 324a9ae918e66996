"""The lowest floor, imported by every package and importing none of them: the streaming contract from the
seed (`TtsChunk`), the trace event vocabulary, the sink's playback records, and the one typed record of a
finished request (`RequestMetrics`). Nothing heavy is imported here."""

from __future__ import annotations

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


# ---- the trace: one frozen record per kind of event -------------------------------------------------------
# Every event is stamped on one clock (`time.perf_counter_ns()`) and carries its request's id. Fields are the
# facts the event observed; a figure derived from them lives in `core.metrics`, never here.


@dataclass(frozen=True)
class TraceEvent:
    t_ns: int
    request_id: str


@dataclass(frozen=True, kw_only=True)
class Submit(TraceEvent):
    """The request was accepted: TTFA counts from here. The sink's fault counters are read now and at the end."""

    engine: str
    voice: str
    text_chars: int
    device_rate: int
    speed: float = 1.0
    stream_input: bool = False  # its text arrives in pieces
    sink_plays: bool = True  # False: a socket, an iterator, a file (no DAC, no callback)
    events_lost: int = 0
    callback_errors: int = 0


@dataclass(frozen=True, kw_only=True)
class PhrasePlanned(TraceEvent):
    index: int
    text: str
    words: int  # 0 on the later pieces of one split word: it counts once
    first_word: int = 0  # its first word's position in the whole text (a window highlights it)
    total_words: int = 0  # words of the text planned so far
    text_ns: int | None = None  # streamed input: the arrival of the last text it waited for


@dataclass(frozen=True, kw_only=True)
class SynthStart(TraceEvent):
    index: int  # the phrase


@dataclass(frozen=True, kw_only=True)
class SynthEnd(TraceEvent):
    index: int  # the phrase
    samples: int  # at `rate`
    rate: int
    compute_ns: int | None  # None: a remote server that does not report it (RTF unknown, not zero)
    cache: tuple[tuple[str, bool], ...] = ()  # (cache name, hit) lookups of this run


@dataclass(frozen=True, kw_only=True)
class ChunkReady(TraceEvent):
    """The chunk entered the sink."""

    index: int
    samples: int  # at the device rate
    voiced_offset: int = -1  # its first sample above −40 dBFS; -1: none
    sound_start: int = 0  # its first non-zero sample (a leading pause before it)
    sound_end: int | None = None  # just after its last non-zero sample (a trailing pause after); None: its end


@dataclass(frozen=True, kw_only=True)
class Play(TraceEvent):
    """A callback copied samples of a chunk (gapless stretches of one chunk are one event)."""

    index: int
    chunk_offset: int
    n: int
    dac_ns: int
    t_cb_ns: int
    faded: bool = False


@dataclass(frozen=True, kw_only=True)
class Underrun(TraceEvent):
    """A callback found the ring short mid-request."""

    frames: int
    dac_ns: int


@dataclass(frozen=True, kw_only=True)
class Cancel(TraceEvent):
    """The user's interruption (click / API call)."""

    played_ms: float | None = None  # how much the listener got, when the sink cannot know (a socket's client)


@dataclass(frozen=True, kw_only=True)
class FlushSeen(TraceEvent):
    """The audio callback took the cancel."""

    t_cb_ns: int
    dac_ns: int


@dataclass(frozen=True, kw_only=True)
class EngineIdle(TraceEvent):
    """The source dropped the request's queue and its in-flight run ended."""


@dataclass(frozen=True, kw_only=True)
class SinkEnd(TraceEvent):
    """A terminal event: the sink's fault counters when it ended (None: not read)."""

    events_lost: int | None = None
    callback_errors: int | None = None


@dataclass(frozen=True, kw_only=True)
class CancelAck(SinkEnd):
    """Both the flush and the engine's idleness: the request is silent and the engine free."""


@dataclass(frozen=True, kw_only=True)
class Failed(SinkEnd):
    error: str


@dataclass(frozen=True, kw_only=True)
class Done(SinkEnd):
    """The last sample of the request left the callback (a sink that does not play: the last chunk handed)."""

    dac_ns: int | None = None


@dataclass(frozen=True, kw_only=True)
class Remote(TraceEvent):
    """A remote server's own timings arrived (ms on its clock)."""

    what: str  # first_audio
    server_ttfa_ms: float | None = None
    queue_ms: float | None = None
    synth_ms: float | None = None
    first_chunk_cached: bool = False


@dataclass(frozen=True, kw_only=True)
class BargeIn(TraceEvent):
    """Voice barge-in decided to cancel (stamped when it decided)."""

    speech_onset_ns: int  # the first VAD-positive frame, ADC time
    true_onset_ns: int  # the first sample above −40 dBFS in the microphone's residual
    canceller: str | None = None


@dataclass(frozen=True, kw_only=True)
class VoiceIgnored(TraceEvent):
    """Listening ended for the request: what it heard and did not act on."""

    too_short: int
    own_voice: int
    canceller: str | None = None
    erle_db: float | None = None
    route: str | None = None  # what the VAD read: aec3 | direct | gate | undecided (at the trigger, if any)
    route_reason: str | None = None
    armed_ms: float | None = None  # when barge-in was first armed, ms after the app was first audible
    route_changes: int = 0  # how often `auto` changed its mind since the listener started


@dataclass(frozen=True, kw_only=True)
class Text(TraceEvent):
    """Streamed input: a piece of text arrived."""

    what: str  # feed | flush | end
    piece: str
    chars: int  # total so far


@dataclass(frozen=True, kw_only=True)
class TextWait(TraceEvent):
    """Streamed input: the pipeline had nothing to synthesise for want of text (start), until `next_index`,
    the phrase the text made possible (end)."""

    state: str  # start | end
    next_index: int | None = None


@dataclass(frozen=True, kw_only=True)
class Piece(TraceEvent):
    """A chunk a source made, just before it went to the sink: which phrase it is a piece of."""

    index: int  # the chunk
    phrase: int
    offset: int  # output samples of that phrase sent before it
    # the phrase's first chunk, when the engine times words: (start, end) output samples from the chunk's start
    word_times: tuple[tuple[int, int], ...] | None = None


@dataclass(frozen=True, kw_only=True)
class Pause(TraceEvent):
    """The listener paused playback (the whole output: every live request gets it)."""

    dac_ns: int  # the first silent frame at the DAC


@dataclass(frozen=True, kw_only=True)
class Resume(TraceEvent):
    dac_ns: int  # the first frame played again, at the DAC


# What a playing sink's audio callback observed, as records its owner drains (`AudioSink.drain`).
K_PLAY, K_UNDERRUN, K_END, K_FLUSH, K_STATUS, K_PAUSE, K_RESUME = range(7)


@dataclass(frozen=True)
class PlaybackEvent:
    kind: int  # K_*
    tag: int  # the request's tag in the sink
    t_cb_ns: int  # perf_counter_ns when the callback began
    dac_ns: int  # when the first frame of this piece reaches the DAC, on the same clock
    chunk_index: int = 0  # K_PLAY: the chunk played
    chunk_offset: int = 0  # K_PLAY: its first frame played here
    n: int = 0  # K_PLAY: frames played
    faded: bool = False  # K_PLAY: faded out (the cancel's fade)
    drop_seq: int = 0  # K_FLUSH: the sequence number of the last drop the callback took
    missing: int = 0  # K_UNDERRUN: frames the ring was short
    flags: int = 0  # K_STATUS: PortAudio's status flags


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


@dataclass(frozen=True)
class IgnoredVoice:
    """What the barge-in listener heard in a request and did not act on."""

    too_short: int  # bursts shorter than the minimum speech
    own_voice: int  # stretches of the app's own voice the gate held back


@dataclass(frozen=True)
class BargeInMetrics:
    """Voice barge-in in one request (`core.metrics.barge_in_metrics`; docs/metrics.md, "Voice barge-in"). Times
    are ms after submit, None when it did not happen; `onset_to_silence_ms` is the user's true onset → silence."""

    speech_onset_ms: float | None  # the first VAD-positive frame
    true_onset_ms: float | None  # the first voiced microphone sample
    trigger_ms: float | None  # when the listener decided (None: nobody interrupted)
    onset_to_silence_ms: float | None
    false_triggers: int  # detections that did not interrupt: ignored.too_short + ignored.own_voice
    ignored: IgnoredVoice
    canceller: str | None  # what removed the app's own voice from the microphone: aec3 | gate | off
    erle_db: float | None  # by how much (None: never audible, or no canceller)
    route: str | None = None  # what the VAD read: aec3 | direct | gate | undecided (the listener's own state)
    route_reason: str | None = None
    armed_ms: float | None = None  # when it was first armed, ms after the app was first audible
    route_changes: int | None = None  # how often `auto` changed its mind

    @property
    def triggered(self) -> bool:
        return self.trigger_ms is not None


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
    barge_in: BargeInMetrics | None = None  # None when nobody listened to the request
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
    # Why the DAC times above (TTFA audible and voiced, cancel → silence, what was heard) are estimated, not the
    # device's own clock (a sound server behind ALSA: audio/graph.py); None where they are the device's.
    dac_time_estimated: str | None = None
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
