"""A chunk source turns one request into chunks of audio and can be cancelled with an acknowledgement.

Implemented by the local pipeline (`pipeline.LocalSource`: planner → warm worker → engine), the remote clients
(`remote.source.RemoteSource`: a `voicetrace serve` WebSocket or any OpenAI-compatible HTTP server) and the
benchmark's baselines. The session drives every source the same way: `produce(job, emit)` on the request's
own thread, `cancel(request_id, on_idle)` from any thread. A source never touches the sink: it hands each
chunk to `emit`, and the session decides where it goes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..contract import AudioArray
from ..engines.base import Engine
from ..text.feed import TextFeed
from .trace import Trace

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
    trace: Trace
    stop: threading.Event  # set by a cancel: stop producing, emit nothing more
    out_rate: int  # the rate chunks are emitted at (the sink's)
    buffered_s: Callable[[], float]  # seconds of this request's audio queued ahead of the listener now
    skipped: list[str] = field(default_factory=list)  # phrases with nothing speakable, filled by the source
    use_cache: bool = True  # the phrase-audio cache (the benchmark compares strategies without it)
    feed: TextFeed = None  # type: ignore[assignment]  # filled from `text` when not given
    # Stop making phrases while more than this is queued ahead of the listener (a sink that plays: a pause
    # stops synthesis, and a long text is not made minutes before it is heard); a file or socket: no limit.
    read_ahead_s: float = float("inf")

    def __post_init__(self) -> None:
        if self.feed is None:
            self.feed = TextFeed(self.text)


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

    def produce(self, job: SourceJob, emit: Emit) -> None:
        """Make the request's chunks, in order, through `emit`; return after the last (is_final) one or as
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
