"""The local chunk source: one request's text → chunks through a warm worker. Plan phrases (first one
small), submit the next phrase the moment the previous one is synthesised (pipelining), shape and pause the
audio, resample it to the sink's rate. The same source feeds the player's ring, a socket (the server), an
iterator (the Python API) or a file: only where the chunks go (`emit`) and how much audio is queued ahead
of the listener (`buffered_s`) differ."""

from __future__ import annotations

import itertools
import queue
import threading
from typing import Any, Self

import numpy as np

from ..audio.shaping import PAUSE_S, PieceShaper, add_pause
from ..contract import AudioArray
from ..engines import create_engine
from ..engines.base import Engine, SynthResult
from ..engines.catalog import find_model
from ..errors import UserError
from ..text.planner import MAX_PIECE_CHARS, Planner, PlannerConfig, split_long_word, split_to_limit
from .source import EngineVoices, OnIdle, SourceJob, SourceOutput
from .trace import now_ns
from .worker import SCHEDULES, EngineWorker, Job

# Kokoro costs ~0.3-0.4 s of compute per second of audio, so its first phrase is two short words (one when it
# ends at a break: "Sure,"); a lone unbroken word hurt intelligibility (bench --wer);
# its later phrases stay near a sentence (150 chars), which also bounds peak memory: onnxruntime keeps the
# arena its largest run needed (both engines loaded, 150-word paragraphs: 746 MB at 180 chars, 662 MB at 150).
PLANNER_DEFAULTS = {
    "kokoro": PlannerConfig(first_min_words=2, first_max_words=3, first_max_chars=12, max_chars=150),
    "piper": PlannerConfig(first_min_words=2, first_max_words=3, first_max_chars=16, max_chars=200),
}
# Kokoro decoding a phrase in pieces: its first sound no longer waits for the whole first phrase (the front
# grows with it, ~50 → ~180 ms from 2 to 14 words on the 2-core VM, and a long phrase needs a larger first
# piece to keep ahead), so the first phrase is a natural clause again, up to 8 words.
STREAMING_PLANNER = {
    "kokoro": PlannerConfig(first_min_words=3, first_break_min_words=1, first_max_words=8, first_max_chars=60,
                            max_chars=150, first_whole_window=True, stream_first_max_words=6,
                            later_by_budget=False),
}


def planner_config_for(engine_kind: str, streams: bool = False) -> PlannerConfig:
    if streams and engine_kind in STREAMING_PLANNER:
        return STREAMING_PLANNER[engine_kind]
    return PLANNER_DEFAULTS.get(engine_kind, PlannerConfig())


class LocalSource(EngineVoices):
    """A chunk source over a warm local engine (see the module docstring). Several sources may share one
    worker (the benchmark's strategies, each with its own planner); the worker counts the requests it serves
    so each plans for its share of the engine."""

    def __init__(self, worker: EngineWorker, planner_config: PlannerConfig | None = None, abortable: bool = True,
                 owns_worker: bool = True, stream_phrase: bool = True) -> None:
        """`abortable`: a cancel aborts the run in flight (False: it finishes, as the baselines stop).
        `stream_phrase`: let the engine decode a phrase in pieces (Kokoro; False: `--kokoro-mode whole`)."""
        self.worker = worker
        self.engine: Engine = worker.engine
        self.name = worker.engine.name
        self.stream_phrase = stream_phrase
        self._planner_config = planner_config
        self.abortable = abortable
        self._owns_worker = owns_worker

    @property
    def planner_config(self) -> PlannerConfig:
        """The one given, else the engine's default, which depends on whether it streams (known once loaded)."""
        if self._planner_config is not None:
            return self._planner_config
        streams = self.stream_phrase and getattr(self.engine, "can_stream", False)
        return planner_config_for(self.engine.entry.engine, streams)

    @classmethod
    def load(cls, model_id: str, device: str = "cpu", schedule: str = SCHEDULES[0],
             stream_phrase: bool = True) -> Self:
        """Start loading and warming a model from the catalog on its own worker thread; returns at once."""
        worker = EngineWorker(create_engine(find_model(model_id), device=device), schedule).start()
        return cls(worker, stream_phrase=stream_phrase)

    def sharing(self, planner_config: PlannerConfig | None = None, abortable: bool = True,
                stream_phrase: bool | None = None) -> LocalSource:
        """Another source on the same warm worker (it does not stop the worker)."""
        streams = self.stream_phrase if stream_phrase is None else stream_phrase
        return LocalSource(self.worker, planner_config, abortable, owns_worker=False, stream_phrase=streams)

    @property
    def rate(self) -> int:
        return self.engine.rate  # a Piper voice's rate is read from its config when it loads

    # ---- the load state (the worker's) ---------------------------------------------------------------
    @property
    def state(self) -> str:
        return self.worker.state

    @property
    def error(self) -> BaseException | None:
        return self.worker.error

    @property
    def ready(self) -> threading.Event:
        return self.worker.ready

    @property
    def load_ms(self) -> float | None:
        return self.engine.load_ms

    @property
    def warmup_ms(self) -> float | None:
        return self.engine.warmup_ms

    def wait_ready(self, timeout: float | None = None) -> None:
        self.worker.wait_ready(timeout)

    # ---- the source ----------------------------------------------------------------------------------
    def produce(self, job: SourceJob, out: SourceOutput) -> None:
        with self.worker.streaming():
            _produce(self, job, out)

    def cancel(self, request_id: str, on_idle: OnIdle) -> None:
        self.worker.cancel(request_id, on_idle)

    def is_idle(self) -> bool:
        """Nothing of anyone's runs or waits on its engine (what a server checks after a client left)."""
        return self.worker.is_idle()

    def stop(self) -> None:
        if self._owns_worker:
            self.worker.stop()


def _produce(source: LocalSource, job: SourceJob, out: SourceOutput) -> None:
    """Run one request through a local worker. Returns when the last chunk was emitted or `job.stop` was set;
    raises UserError (bad voice, engine failed to load) or RuntimeError (a failed run)."""
    worker = source.worker
    while not worker.ready.wait(0.05):
        if job.stop.is_set():
            return
    if worker.error is not None:
        raise UserError(f"engine {worker.engine.name} failed to load: {worker.error}",
                        "see `voicetrace models --verify`")
    eng = worker.engine
    eng.check_voice(job.voice)
    feed = job.feed
    planner = Planner("", source.planner_config)
    seen_version = -1
    # (phrase index, result, error, is it the phrase's last piece)
    results: queue.Queue[tuple[int, SynthResult | None, BaseException | None, bool]] = queue.Queue()
    made: dict[int, tuple[int, int]] = {}  # phrase index → (samples, compute ns) of its pieces so far
    brk_of: dict[int, int] = {}
    in_flight = 0
    next_index = itertools.count()
    last_index = -1

    def on_start(i: int) -> Any:
        return lambda t: out.synth_started(i, t)

    def on_done(i: int) -> Any:
        def done(res: SynthResult | None, err: BaseException | None, t_end: int) -> None:
            if res is not None:
                samples, compute = made.pop(i, (0, 0))
                out.synth_ended(i, samples + len(res.audio), res.rate, compute + res.compute_ns, res.cache, t_end)
            results.put((i, res, err, True))
        return done

    def on_piece(i: int) -> Any:
        def piece(res: SynthResult) -> None:
            samples, compute = made.get(i, (0, 0))
            made[i] = (samples + len(res.audio), compute + res.compute_ns)
            results.put((i, res, None, False))
        return piece

    def absorb() -> None:
        """The settled words of the text so far (all of it when it came whole)."""
        nonlocal seen_version
        seen_version = feed.version
        planner.update(feed.settled_words(), feed.complete)

    def plan_next(buffered_s: float) -> int:
        # Shared engine (a server's concurrent streams): this stream gets 1/load of it, and its phrase is
        # due when its buffered audio runs out.
        rtf = worker.rtf_est * worker.share_count()
        idle_s = (now_ns() - feed.t_last_ns) / 1e9
        phrase = planner.next_phrase(buffered_s, rtf, worker.sec_per_char_est / job.speed, idle_s)
        deadline = now_ns() + int(buffered_s * 1e9)
        if phrase is None:
            return 0
        parts = split_to_limit(phrase.words, eng.fits)
        first_word = phrase.first_word
        submitted = 0
        for k, words in enumerate(parts):
            texts = [" ".join(words)]
            if len(words) == 1 and (len(words[0]) > MAX_PIECE_CHARS or not eng.fits(words[0])):
                texts = split_long_word(words[0], eng.fits)  # one huge "word": spoken piece by piece
            for j, text in enumerate(texts):
                i = next(next_index)
                last = k == len(parts) - 1 and j == len(texts) - 1
                brk_of[i] = phrase.brk if last else 0
                # first_word lets a window highlight the phrase being spoken in the text it came from; the
                # pieces of one split word count it once. text_ns: the arrival of the last text it waited for.
                out.plan(i, text, len(words) if j == 0 else 0, first_word=first_word,
                         total_words=planner.total_words, text_ns=feed.t_last_ns)
                worker.submit(Job(job.request_id, i, text, job.voice, job.speed, on_start(i), on_done(i),
                                  deadline_ns=deadline, use_cache=job.use_cache, abortable=source.abortable,
                                  on_piece=on_piece(i), stream=source.stream_phrase))
                submitted += 1
            first_word += len(words)
        return submitted

    whole = planner.cfg.mode == "whole"  # the batch baseline: nothing plays until everything is made
    held: list[AudioArray] = []
    chunk_index = 0
    shaper = PieceShaper(job.out_rate / eng.rate)

    def send(audio: AudioArray, final: bool, phrase: int, word_times: Any = None) -> None:
        """One chunk out, as a piece of its phrase."""
        nonlocal chunk_index
        if resampler is not None:
            audio = np.asarray(resampler.resample_chunk(audio, last=final), dtype=np.float32)
        plan = out.phrase(phrase)
        if word_times is not None and (plan is None or len(word_times) != len(plan.text.split())):
            word_times = None  # the engine's words are not the text's ("$5" said as two): not timed
        out.chunk(chunk_index, audio, final, phrase, word_times)
        chunk_index += 1

    resampler = None
    if eng.rate != job.out_rate:
        import soxr

        resampler = soxr.ResampleStream(eng.rate, job.out_rate, 1, dtype="float32", quality="HQ")
    waiting_since: int | None = None  # the pipeline is idle for want of text (streamed input)
    while True:
        if job.stop.is_set():
            return
        if in_flight == 0:
            absorb()
            if not planner.done and job.buffered_s() > job.read_ahead_s:
                job.stop.wait(0.05)  # far enough ahead (or paused): wait for the listener
                continue
            if planner.done:
                if planner.count == 0:
                    raise UserError("the text ended with nothing to speak", "send some words before end()")
                # The text ended after its last phrase went out (streamed): close the request with an empty
                # final chunk (and what the resampler still holds).
                send(np.zeros(0, np.float32), True, last_index + 1)
                return
            n = plan_next(job.buffered_s())
            in_flight += n
            if n == 0:
                if waiting_since is None:
                    waiting_since = now_ns()
                    out.text_wait("start", t_ns=waiting_since)
                feed.wait(seen_version, 0.02)  # new text, or time to re-check whether to speak what is settled
                continue
            if waiting_since is not None:
                out.text_wait("end", next_index=out.phrases_planned - n)  # the first of the n just planned
                waiting_since = None
        try:
            i, res, err, last_piece = results.get(timeout=0.02)
        except queue.Empty:
            continue
        if job.stop.is_set():
            return
        if not last_piece:  # a piece of a phrase still being made: out at once (not in the batch baseline)
            assert res is not None
            audio, times = shaper.piece(i, res.audio, res.rate, res.word_times)
            if whole:
                held.append(audio)
            elif len(audio):
                send(audio, False, i, times)
            continue
        in_flight -= 1
        if err is not None or res is None:
            raise err if isinstance(err, UserError) else RuntimeError(str(err) or type(err).__name__)
        if len(res.audio) == 0 and not shaper.started(i):
            plan = out.phrase(i)
            job.skipped.append(plan.text if plan is not None else "")
        # Budget the next phrase against what will really play: the model pads each phrase with
        # silence that shaping trims, so the raw length overstates the buffer (it caused underruns).
        audio, times = shaper.last(i, res.audio, res.rate, res.word_times)
        if in_flight == 0:  # pipelining: the engine starts the next phrase now
            absorb()
            ahead = job.buffered_s() + len(audio) / res.rate
            if not planner.done and ahead <= job.read_ahead_s:
                in_flight += plan_next(ahead)
        final = in_flight == 0 and planner.done
        if not final:
            audio = add_pause(audio, res.rate, PAUSE_S.get(brk_of[i], 0.0))
        if whole:
            held.append(audio)
            if not final:
                continue
            audio, i, times = np.concatenate(held), 0, None
        send(audio, final, i, times)
        last_index = i
        if final:
            return
