"""One request through a warm local worker, as a small object with named steps: **plan** the next phrases
from the text so far (the first one small), **submit** each to the worker the moment the previous one is
synthesised (pipelining), **take** each result (a piece of a phrase, or its last), **shape** it (trim and fade
the model's silences, add the pause after a phrase), and **emit** it, resampled to the sink's rate, through
the request's `SourceOutput`. It runs on the request's feeder thread; the worker's callbacks only count and
queue results."""

from __future__ import annotations

import itertools
import queue
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ..audio.shaping import PAUSE_S, PieceShaper, add_pause
from ..contract import AudioArray
from ..engines.base import SynthResult
from ..errors import UserError
from ..text.planner import MAX_PIECE_CHARS, Planner, split_long_word, split_to_limit
from .source import SourceJob, SourceOutput
from .trace import now_ns
from .worker import EngineWorker, Job

# What `_when_idle` decided: plan results are in flight, wait and look again, or the request has ended.
GO, WAIT, END = "go", "wait", "end"


class _Result(NamedTuple):
    phrase: int
    res: SynthResult | None
    err: BaseException | None
    last_piece: bool  # the phrase's last piece (or its only one): its synthesis ended


class Production:
    def __init__(self, worker: EngineWorker, planner: Planner, job: SourceJob, out: SourceOutput,
                 abortable: bool = True, stream_phrase: bool = True) -> None:
        """`planner`: a fresh one (it is fed the request's text as it settles); `abortable`: a cancel aborts
        the run in flight; `stream_phrase`: the engine may decode a phrase in
        pieces. The worker must be ready."""
        self.worker = worker
        self.engine = worker.engine
        self.job = job
        self.out = out
        self.feed = job.feed
        self.abortable = abortable
        self.stream_phrase = stream_phrase
        self.planner = planner
        self.seen_version = -1  # the feed's version the planner has absorbed
        self.results: queue.Queue[_Result] = queue.Queue()
        self.made: dict[int, tuple[int, int]] = {}  # phrase → (samples, compute ns) of its pieces so far
        self.brk_of: dict[int, int] = {}  # phrase → the break after it (its pause)
        self.in_flight = 0  # phrases submitted and not yet synthesised
        self.next_phrase = itertools.count()
        self.last_phrase = -1  # the last phrase emitted
        self.chunk_index = 0
        self.shaper = PieceShaper(job.out_rate / self.engine.rate)
        self.resampler: Any = None  # soxr keeps its filter state across the chunks of one request
        if self.engine.rate != job.out_rate:
            import soxr

            self.resampler = soxr.ResampleStream(self.engine.rate, job.out_rate, 1, dtype="float32", quality="HQ")
        self.waiting_since: int | None = None  # the pipeline is idle for want of text (streamed input)

    # ---- the loop ------------------------------------------------------------------------------------
    def run(self) -> None:
        """Returns when the last chunk was emitted or `job.stop` was set; raises UserError (a bad request) or
        RuntimeError (a failed run)."""
        self.engine.check_voice(self.job.voice)
        while not self.job.stop.is_set():
            if self.in_flight == 0:
                step = self._when_idle()
                if step == END:
                    return
                if step == WAIT:
                    continue
            result = self._take()
            if result is None:
                continue
            if self.job.stop.is_set():
                return
            if self._use(result):
                return

    def _when_idle(self) -> str:
        """Nothing in flight: plan more (GO), wait for the listener or for text (WAIT), or end the request."""
        job = self.job
        self._absorb()
        if not self.planner.done and job.buffered_s() > job.read_ahead_s:
            job.stop.wait(0.05)  # far enough ahead (or paused): wait for the listener
            return WAIT
        if self.planner.done:
            if self.planner.count == 0:
                raise UserError("the text ended with nothing to speak", "send some words before end()")
            # The text ended after its last phrase went out (streamed): close the request with an empty final
            # chunk (and what the resampler still holds).
            self._emit(np.zeros(0, np.float32), True, self.last_phrase + 1)
            return END
        n = self._plan(job.buffered_s())
        self.in_flight += n
        if n == 0:
            if self.waiting_since is None:
                self.waiting_since = now_ns()
                self.out.text_wait("start", t_ns=self.waiting_since)
            self.feed.wait(self.seen_version, 0.02)  # new text, or time to re-check whether to speak what is settled
            return WAIT
        if self.waiting_since is not None:
            self.out.text_wait("end", next_index=self.out.phrases_planned - n)  # the first of the n just planned
            self.waiting_since = None
        return GO

    # ---- plan and submit ------------------------------------------------------------------------------
    def _absorb(self) -> None:
        """The settled words of the text so far (all of it when it came whole)."""
        self.seen_version = self.feed.version
        self.planner.update(self.feed.settled_words(), self.feed.complete)

    def _plan(self, buffered_s: float) -> int:
        """Plan the next phrase and submit it (in parts where the engine cannot take it whole): how many."""
        worker, eng, job = self.worker, self.engine, self.job
        # Shared engine (a server's concurrent streams): this stream gets 1/load of it, and its phrase is
        # due when its buffered audio runs out.
        rtf = worker.rtf_est * worker.share_count()
        idle_s = (now_ns() - self.feed.t_last_ns) / 1e9
        phrase = self.planner.next_phrase(buffered_s, rtf, worker.sec_per_char_est / job.speed, idle_s)
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
                i = next(self.next_phrase)
                last = k == len(parts) - 1 and j == len(texts) - 1
                self.brk_of[i] = phrase.brk if last else 0
                # first_word lets a window highlight the phrase being spoken in the text it came from; the
                # pieces of one split word count it once. text_ns: the arrival of the last text it waited for.
                self.out.plan(i, text, len(words) if j == 0 else 0, first_word=first_word,
                              total_words=self.planner.total_words, text_ns=self.feed.t_last_ns)
                self._submit(i, text, deadline)
                submitted += 1
            first_word += len(words)
        return submitted

    def _submit(self, phrase: int, text: str, deadline_ns: int) -> None:
        job = self.job
        self.worker.submit(Job(job.request_id, phrase, text, job.voice, job.speed, self._on_start(phrase),
                               self._on_done(phrase), deadline_ns=deadline_ns,
                               abortable=self.abortable, on_piece=self._on_piece(phrase),
                               stream=self.stream_phrase))

    # ---- the worker's callbacks (on its thread) --------------------------------------------------------
    def _on_start(self, phrase: int) -> Callable[[int], None]:
        return lambda t: self.out.synth_started(phrase, t)

    def _on_done(self, phrase: int) -> Callable[[SynthResult | None, BaseException | None, int], None]:
        def done(res: SynthResult | None, err: BaseException | None, t_end: int) -> None:
            if res is not None:
                samples, compute = self.made.pop(phrase, (0, 0))
                self.out.synth_ended(phrase, samples + len(res.audio), res.rate, compute + res.compute_ns,
                                     res.cache, t_end)
            self.results.put(_Result(phrase, res, err, True))
        return done

    def _on_piece(self, phrase: int) -> Callable[[SynthResult], None]:
        def piece(res: SynthResult) -> None:
            samples, compute = self.made.get(phrase, (0, 0))
            self.made[phrase] = (samples + len(res.audio), compute + res.compute_ns)
            self.results.put(_Result(phrase, res, None, False))
        return piece

    # ---- take, shape, emit ----------------------------------------------------------------------------
    def _take(self) -> _Result | None:
        try:
            return self.results.get(timeout=0.02)
        except queue.Empty:
            return None

    def _use(self, r: _Result) -> bool:
        """Shape a result and send it on. True once the request's last chunk went out."""
        i, res = r.phrase, r.res
        if not r.last_piece:  # a piece of a phrase still being made: out at once (not in the batch baseline)
            assert res is not None
            audio, times = self.shaper.piece(i, res.audio, res.rate, res.word_times)
            if len(audio):
                self._emit(audio, False, i, times)
            return False
        self.in_flight -= 1
        if r.err is not None or res is None:
            raise r.err if isinstance(r.err, UserError) else RuntimeError(str(r.err) or type(r.err).__name__)
        if len(res.audio) == 0 and not self.shaper.started(i):
            plan = self.out.phrase(i)
            self.job.skipped.append(plan.text if plan is not None else "")
        # Budget the next phrase against what will really play: the model pads each phrase with
        # silence that shaping trims, so the raw length overstates the buffer (it caused underruns).
        audio, times = self.shaper.last(i, res.audio, res.rate, res.word_times)
        if self.in_flight == 0:  # pipelining: the engine starts the next phrase now
            self._absorb()
            ahead = self.job.buffered_s() + len(audio) / res.rate
            if not self.planner.done and ahead <= self.job.read_ahead_s:
                self.in_flight += self._plan(ahead)
        final = self.in_flight == 0 and self.planner.done
        if not final:
            audio = add_pause(audio, res.rate, PAUSE_S.get(self.brk_of[i], 0.0))
        self._emit(audio, final, i, times)
        self.last_phrase = i
        return final

    def _emit(self, audio: AudioArray, final: bool, phrase: int,
              word_times: list[tuple[int, int]] | None = None) -> None:
        """One chunk out, resampled to the sink's rate, as a piece of its phrase (a baseline that holds its
        audio back overrides this: bench/baselines.py)."""
        if self.resampler is not None:
            audio = np.asarray(self.resampler.resample_chunk(audio, last=final), dtype=np.float32)
        plan = self.out.phrase(phrase)
        if word_times is not None and (plan is None or len(word_times) != len(plan.text.split())):
            word_times = None  # the engine's words are not the text's ("$5" said as two): not timed
        self.out.chunk(self.chunk_index, audio, final, phrase, word_times)
        self.chunk_index += 1
