"""A chunk source turns one request into chunks of audio and can be cancelled with an acknowledgement.

Implemented by the local pipeline (`pipeline.LocalSource`: planner → warm worker → engine), the remote clients
(`remote.source.RemoteSource`: a `voicetrace serve` WebSocket or any OpenAI-compatible HTTP server) and the
benchmark's baselines. The session drives every source the same way: `produce(job, out)` on the request's
own thread, `cancel(request_id, on_idle)` from any thread. A source never touches the sink nor the trace: it
says what it made through `out` (a `SourceOutput`), which records it and hands each chunk to the session, and
the session decides where it goes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..contract import AudioArray, PhrasePlanned, Piece, Remote, SynthEnd, SynthStart, TextWait
from ..engines.base import Engine
from ..text.feed import TextFeed
from .trace import Trace, now_ns

# (chunk index, audio at the job's output rate, is it the request's last chunk)
Emit = Callable[[int, AudioArray, bool], None]
# Called once the source no longer works for a cancelled request: perf_counter_ns of that moment.
OnIdle = Callable[[int], None]

SOURCE_STATES = ("created", "loading", "warming", "ready", "error")


@dataclass
class SourceJob:
    """What a source needs to produce one request's chunks. `feed` holds the text: whole (complete at once),
    or arriving in pieces (a language model's reply), which the planner reads as it grows; `text` is the
    whole text when it was given whole ("" for a streamed request)."""

    request_id: str
    text: str
    voice: str
    speed: float
    stop: threading.Event  # set by a cancel: stop producing, emit nothing more
    out_rate: int  # the rate chunks are emitted at (the sink's)
    buffered_s: Callable[[], float]  # seconds of this request's audio queued ahead of the listener now
    skipped: list[str] = field(default_factory=list)  # phrases with nothing speakable, filled by the source
    feed: TextFeed = None  # type: ignore[assignment]  # filled from `text` when not given
    # Stop making phrases while more than this is queued ahead of the listener (a sink that plays: a pause
    # stops synthesis, and a long text is not made minutes before it is heard); a file or socket: no limit.
    read_ahead_s: float = float("inf")
    # ms of this request's audio the listener has got so far, as the session knows it (a source never reads the
    # sink: a remote client tells its server this on a cancel)
    played_ms: Callable[[], float] = lambda: 0.0

    def __post_init__(self) -> None:
        if self.feed is None:
            self.feed = TextFeed(self.text)


class SourceOutput:
    """One request's output as its source reports it. The session makes one per request and hands it to
    `produce`: through it a source says what it planned, when synthesis of a phrase started and ended, and each
    chunk with the phrase it is a piece of. It writes the trace events (no source writes one by hand, so none
    forgets a field) and hands each chunk on to the session. It also answers what a chunk is (its phrase, that
    phrase's plan and synthesis) without scanning the trace: the source itself, the session and the server ask.

    Written by the source's threads (an engine worker says when a run started and ended), read by the session's
    feeder thread: each table is set one key at a time (atomic under the GIL), and what a chunk's readers need
    is set before the chunk is emitted."""

    def __init__(self, trace: Trace, emit: Emit) -> None:
        self.request_id = trace.request_id
        self._trace = trace
        self._emit = emit
        self._planned: dict[int, PhrasePlanned] = {}  # phrase index → its plan
        self._started: dict[int, SynthStart] = {}
        self._ended: dict[int, SynthEnd] = {}
        self._pieces: dict[int, Piece] = {}  # chunk index → the phrase it is a piece of, and where
        self._sent: dict[int, int] = {}  # phrase → output samples of it emitted so far

    # ---- what the source says ------------------------------------------------------------------------
    def plan(self, index: int, text: str, words: int, *, first_word: int = 0, total_words: int = 0,
             text_ns: int | None = None, t_ns: int | None = None) -> PhrasePlanned:
        """A phrase is planned (`words`: 0 on the later pieces of one split word, which counts once)."""
        ev = PhrasePlanned(now_ns() if t_ns is None else t_ns, self.request_id, index=index, text=text,
                           words=words, first_word=first_word, total_words=total_words, text_ns=text_ns)
        self._planned[index] = ev
        return self._trace.add(ev)

    def synth_started(self, phrase: int, t_ns: int) -> None:
        self._started[phrase] = self._trace.add(SynthStart(t_ns, self.request_id, index=phrase))

    def synth_ended(self, phrase: int, samples: int, rate: int, compute_ns: int | None,
                    cache: Iterable[tuple[str, bool]] = (), t_ns: int | None = None) -> None:
        """Its synthesis ended: `samples` at `rate` in all; `compute_ns` None when not known (a remote server)."""
        ev = SynthEnd(now_ns() if t_ns is None else t_ns, self.request_id, index=phrase, samples=samples,
                      rate=rate, compute_ns=compute_ns, cache=tuple(cache))
        self._ended[phrase] = self._trace.add(ev)

    def text_wait(self, state: str, next_index: int | None = None, t_ns: int | None = None) -> None:
        """Streamed input: nothing to synthesise for want of text (start), until phrase `next_index` (end)."""
        self._trace.add(TextWait(now_ns() if t_ns is None else t_ns, self.request_id, state=state,
                                 next_index=next_index))

    def remote_timings(self, ev: Remote) -> None:
        """A server's own split of its time to first audio."""
        self._trace.add(ev)

    def chunk(self, index: int, audio: AudioArray, final: bool, phrase: int | None = None,
              word_times: Sequence[tuple[int, int]] | None = None) -> None:
        """Hand one chunk on (at the job's out_rate). `phrase`: the phrase it is a piece of, recorded first (its
        offset in the phrase is counted here), with the phrase's word times on its first chunk where the engine
        timed them; None: the chunk is its phrase whole (a source that does not know its phrases)."""
        if phrase is not None:
            times = None if word_times is None else tuple((int(a), int(b)) for a, b in word_times)
            self._pieces[index] = self._trace.add(Piece(now_ns(), self.request_id, index=index, phrase=phrase,
                                                        offset=self._sent.get(phrase, 0), word_times=times))
            self._sent[phrase] = self._sent.get(phrase, 0) + len(audio)
        self._emit(index, audio, final)

    # ---- what it is asked ----------------------------------------------------------------------------
    @property
    def phrases_planned(self) -> int:
        return len(self._planned)

    def phrase(self, index: int) -> PhrasePlanned | None:
        """Phrase `index`'s plan."""
        return self._planned.get(index)

    def piece(self, chunk: int) -> Piece | None:
        """What chunk `chunk` is a piece of (None: its phrase whole)."""
        return self._pieces.get(chunk)

    def phrase_of(self, chunk: int) -> int:
        piece = self._pieces.get(chunk)
        return chunk if piece is None else piece.phrase

    def synth_start(self, phrase: int) -> SynthStart | None:
        return self._started.get(phrase)

    def synth_end(self, phrase: int) -> SynthEnd | None:
        return self._ended.get(phrase)


@runtime_checkable
class ChunkSource(Protocol):
    """The interface a session needs of anything that makes speech."""

    @property
    def name(self) -> str:
        """The engine id it reports in the trace (kokoro, piper, remote, ...)."""

    @property
    def rate(self) -> int:
        """The sample rate its audio is made at (chunks are resampled to the job's out_rate)."""

    @property
    def state(self) -> str:
        """One of SOURCE_STATES."""

    @property
    def error(self) -> BaseException | None:
        """Why loading failed (state "error")."""

    @property
    def ready(self) -> threading.Event:
        """Set once ready *or* failed."""

    @property
    def load_ms(self) -> float | None: ...

    @property
    def warmup_ms(self) -> float | None: ...

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until ready; re-raise the load error if loading failed."""

    @property
    def default_voice(self) -> str: ...

    def voices(self) -> list[str]: ...

    def check_voice(self, voice: str) -> None:
        """Raise UserError for a voice this source cannot speak with."""

    def produce(self, job: SourceJob, out: SourceOutput) -> None:
        """Make the request's chunks, in order, through `out.chunk`; return after the last (is_final) one or as
        soon as `job.stop` is set. Raise UserError (bad request, not loaded) or another exception (a failed
        run): the session fails that request only."""

    def cancel(self, request_id: str, on_idle: OnIdle) -> None:
        """Stop working for the request (drop what is queued, abort what runs) and call `on_idle` once
        nothing runs for it any more, at once if nothing did."""

    def stop(self) -> None:
        """Release the source (its thread, its connection); requests in flight end."""


class Readiness:
    """The load state every source reports (a mixin: `state`, `error`, `ready`, `wait_ready`)."""

    def __init__(self) -> None:
        self.state = "created"
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.load_ms: float | None = None
        self.warmup_ms: float | None = None

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until ready; re-raise the load error if loading failed."""
        if not self.ready.wait(timeout):
            raise TimeoutError(f"{getattr(self, 'name', 'the engine')} not ready after {timeout} s")
        if self.error is not None:
            raise self.error

    def _loaded(self, error: BaseException | None) -> None:
        self.error = error
        self.state = "ready" if error is None else "error"
        self.ready.set()



class EngineVoices:
    """The voice part of a source over a local engine (a mixin: `self.engine` is the engine)."""

    engine: Engine

    @property
    def default_voice(self) -> str:
        return self.engine.default_voice

    def voices(self) -> list[str]:
        return self.engine.voices()

    def check_voice(self, voice: str) -> None:
        self.engine.check_voice(voice)
