"""Kokoro-82M on sessions the app owns (so cancel can terminate a run), its graph cut so that one phrase's
audio comes out in pieces (`kokoro_graph`): the front once per phrase, then the generator over growing spans of
frames, each with context on both sides, from just before the voice (most of the ~375 ms the leading pad token
lasts is not computed). A phrase the buffered audio already covers is decoded whole. A model whose graph cannot be
cut runs whole, phrase at a time, as before (one notice)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..contract import AudioArray
from ..errors import ModelError, SynthesisCancelled, UserError
from ..text.normalize import normalize_for_speech
from . import kokoro_graph as kg
from .base import SHORT_PHRASE_CHARS, Engine, SynthResult, as_mono_f32, make_session
from .cache import LruCache
from .catalog import cache_dir
from .kokoro_stats import CALIBRATION, NormStats
from .phonemes import ESPEAK_LOCK, ensure_espeak
from .voices import parse_blend

KOKORO_MAX_PHONEMES = 510
KOKORO_MODES = ("stream", "whole")

# Decoding starts 125 ms before the leading pad token ends: the first phoneme's sound begins inside the pad's
# span, up to 107 ms before its end (at −50 dBFS, "Sure." — 22 phrases measured); shaping trims what is silent.
LEAD_FRAMES = 10
# The first piece: at least 200 ms of voice, more when the cost per frame measured now says the next pieces
# could not keep ahead (on the 2-core VM a 34-frame generator run costs ~210 ms: 6.2 ms a frame, 4.7 for 260).
FIRST_VOICE_FRAMES = 16
CONTEXT_FRAMES = 8  # each side of a piece: seams measured at the level of the signal's own sample steps
FIRST_LEFT_CONTEXT = 2  # before the first piece is the leading pad's silence: little context is needed
MIN_PIECE_FRAMES = 16
HEADROOM = 0.75  # a piece may cost this share of the audio out ahead of it (0.85 underran on the 2-core VM)
CATCH_UP_SHARE = 0.95  # a piece that gains on the listener at all, with a margin (tests/unit/test_kokoro_piece_plan.py)
CATCH_UP_MS = 800.0  # the longest run (one gap) worth making to stop losing ground piece by piece
# The front's cost as if the phrase had this many more tokens: on the 2-core VM a front costs ~30 ms + 2.0 ms a
# token quiet and ~45 + 3.0 with another process holding a core, so ms / (tokens + 15) is the same within ±8 %
# for 6 to 147 tokens, and its ratio between two phrases says how much busier the machine got.
FRONT_FIXED_TOKENS = 15
# A front this much slower than the costs' reference scales the costs the pieces are planned with: quiet fronts
# came within 1.13× of the reference (an average over phrases), fronts with a core held 1.25–1.8×.
BUSIER = 1.2
# ...and the pieces slow more than the front (a held core: fronts 1.27–1.45×, pieces 1.5–1.7×; many small runs,
# each waiting for both of onnxruntime's threads): the generator's costs are scaled by this much more
PIECES_SLOW_MORE = 1.15

log = logging.getLogger("voicetrace")


@dataclass
class _Front:
    tokens: list[int]
    style: AudioArray
    gen_input: AudioArray  # [1, 512, frames]
    har: AudioArray  # [1, 22, 60 · frames + 1]
    units: AudioArray  # per-token durations, pads included
    word_of_token: list[int]  # word index of each token (-1: a space)
    unit_ms: float = 0.0  # the front run's ms / (tokens + FRONT_FIXED_TOKENS)


class KokoroEngine(Engine):
    max_phonemes = KOKORO_MAX_PHONEMES

    def __init__(self, entry: Any, device: str = "cpu") -> None:
        super().__init__(entry, device)
        self.style_cache: LruCache[AudioArray] = LruCache("voice_style", 32)
        self.timed_cache: LruCache[tuple[AudioArray, list[tuple[int, int]] | None]] = LruCache("phrase_audio", 128)
        self._voices: dict[str, AudioArray] = {}
        self._kokoro: Any = None
        self._session: Any = None  # the whole graph (a model that cannot be cut)
        self._front: Any = None
        self._gen_whole: Any = None
        self._gen_fed: Any = None
        self._split: kg.SplitGraph | None = None
        self._stats: dict[str, NormStats] = {}
        self._vocab: dict[str, int] = {}
        self.split_notice: str | None = None  # why this model runs whole (None: it streams)
        self.gen_ms_per_frame = 5.0  # a whole-phrase generator run, measured at warm-up and on every one
        self.piece_ms_per_frame = 6.0  # a piece's run (context included): small runs cost more a frame
        self._costs_unit_ms = 0.0  # the front unit (ms) the two costs above were measured at (a running average)

    @property
    def can_stream(self) -> bool:
        return self._split is not None

    # ---- loading ---------------------------------------------------------------------------------------
    def _load(self) -> None:
        ensure_espeak()
        from kokoro_onnx import Kokoro

        voices_path = self.entry.path("voices")
        try:
            with np.load(voices_path, allow_pickle=False) as data:
                self._voices = {k: np.asarray(data[k], dtype=np.float32) for k in data.files}
        except (OSError, ValueError) as exc:
            raise ModelError(f"voice file {voices_path} cannot be read ({exc})",
                             "reinstall or replace it") from exc
        if not self._voices:
            raise ModelError(f"voice file {voices_path} holds no voices", "reinstall or replace it")
        model = self.entry.path("model")
        self._load_split(model)
        # kokoro-onnx for its tokenizer and input types only (on the cut graph its own create() would not work)
        first = self._front if self._front is not None else self._session
        with ESPEAK_LOCK:
            self._kokoro = Kokoro.from_session(first, str(voices_path))
        self._vocab = dict(self._kokoro.tokenizer.vocab)
        if self.entry.default_voice not in self._voices:  # a user model with other voice names
            self._default_voice = sorted(self._voices)[0]

    def _load_split(self, model: Path) -> None:
        folder = cache_dir() / "kokoro-split" / kg.cache_key(model, self.entry.files["model"].sha256)
        for rebuild in (False, True):
            try:
                split = kg.load_or_split(model, folder, rebuild=rebuild)
            except Exception as exc:  # unreadable graph, full disk: the whole graph still works
                split, why = None, f"the graph could not be cut ({str(exc).splitlines()[0][:120]})"
            else:
                why = "its graph does not have the tensors the cut needs"
            if split is None:
                break
            try:
                self._front = make_session(str(split.front), device=self.device, **self.tuning)
                self._gen_whole = make_session(str(split.whole), device=self.device, **self.tuning)
                self._gen_fed = make_session(str(split.fed), device=self.device, **self.tuning)
            except ModelError:  # a corrupt cached cut: cut again once
                self._front = self._gen_whole = self._gen_fed = None
                why = "its cached cut is unreadable"
                continue
            self._split = split
            return
        self.split_notice = f"Kokoro ({model.name}) speaks phrase at a time: {why}"
        log.warning("%s", self.split_notice)
        self._session = make_session(str(model), device=self.device, **self.tuning)

    def warm(self) -> None:
        t = time.perf_counter()
        super().warm()
        if self._split is not None:
            self._calibrate(self.default_voice)
            for _ in self.synthesize_pieces("This is a warm-up sentence for the voice.", self.default_voice, 1.0,
                                            use_cache=False):
                pass  # the pieces' generator, warm too
        self.warmup_ms = (time.perf_counter() - t) * 1000

    def _stats_path(self, voice: str) -> Path:
        model = self.entry.path("model")
        name = hashlib.sha256(voice.encode()).hexdigest()[:16]  # a blend ("a:0.5,b:0.5") is a voice too
        folder = cache_dir() / "kokoro-split" / kg.cache_key(model, self.entry.files["model"].sha256)
        return folder / f"stats-{name}.npz"

    def _norm_stats(self, voice: str) -> NormStats:
        stats = self._stats.get(voice)
        if stats is None:
            assert self._split is not None
            stats = self._stats[voice] = NormStats(self._split.stats)
            stats.load(self._stats_path(voice))
        return stats

    def _calibrate(self, voice: str) -> None:
        """The calibration phrases decoded whole (first warm-up of a voice only: the rows are kept on disk)."""
        stats = self._norm_stats(voice)
        if stats.ready:
            return
        for text in CALIBRATION:
            self._whole(self._prepare(normalize_for_speech(text), voice, 1.0, []), voice)
        with contextlib.suppress(OSError):  # no writable cache: calibrated again next start, nothing worse
            stats.save(self._stats_path(voice))

    # ---- the interface ---------------------------------------------------------------------------------
    def caches(self) -> list[LruCache[Any]]:
        return [self.phoneme_cache, self.timed_cache, self.style_cache]

    def voices(self) -> list[str]:
        return sorted(self._voices)

    def check_voice(self, voice: str) -> None:
        parse_blend(voice, self.voices())

    def phonemize(self, text: str) -> str:
        with ESPEAK_LOCK:
            return str(self._kokoro.tokenizer.phonemize(text, "en-us"))

    def _style(self, voice: str, cache_log: list[tuple[str, bool]]) -> AudioArray:
        def blend() -> AudioArray:
            parts = parse_blend(voice, self.voices())
            return sum((self._voices[n] * w for n, w in parts), np.zeros_like(self._voices[parts[0][0]]))

        style, hit = self.style_cache.get_or_make(voice, blend)
        cache_log.append(("voice_style", hit))
        return style

    def _tokens(self, text: str, cache_log: list[tuple[str, bool]]) -> tuple[list[int], list[int]]:
        """Token ids and the word each belongs to (phoneme words are separated by spaces)."""
        phonemes = self.phonemes_cached(text, cache_log)
        if len(phonemes) > self.max_phonemes:
            raise UserError(f"a phrase is {len(phonemes)} phonemes, over Kokoro's {self.max_phonemes}",
                            "split the text at punctuation")
        tokens, words = [], []
        word, in_word = -1, False
        for ch in phonemes:
            tid = self._vocab.get(ch)
            if tid is None:
                continue
            if ch == " ":
                in_word = False
                tokens.append(tid)
                words.append(-1)
                continue
            if not in_word:
                word, in_word = word + 1, True
            tokens.append(tid)
            words.append(word)
        return tokens, words

    def _synthesize(self, text: str, voice: str, speed: float, cache_log: list[tuple[str, bool]]) -> AudioArray:
        if self._split is None:
            tokens, _ = self._tokens(text, cache_log)
            if not tokens:
                return np.zeros(0, np.float32)  # nothing speakable (emoji, symbols): reported by the session
            style = self._style(voice, cache_log)
            return as_mono_f32(self._run(self._session, self._feeds(tokens, style, speed))[0])
        front = self._prepare(text, voice, speed, cache_log)
        return np.zeros(0, np.float32) if front is None else self._whole(front, voice)

    def _feeds(self, tokens: list[int], style: AudioArray, speed: float) -> dict[str, Any]:
        k = self._kokoro
        dtypes = k._input_dtypes
        return {
            k._tokens_input: np.array([[0, *tokens, 0]], dtype=dtypes[k._tokens_input]),
            "style": np.asarray(style[min(len(tokens), len(style)) - 1], dtype=dtypes["style"]).reshape(1, -1),
            "speed": np.array([speed], dtype=dtypes["speed"]),
        }

    def _prepare(self, text: str, voice: str, speed: float, cache_log: list[tuple[str, bool]]) -> _Front | None:
        """The front for a phrase (None: nothing speakable)."""
        tokens, words = self._tokens(text, cache_log)
        if not tokens:
            return None
        feeds = self._feeds(tokens, self._style(voice, cache_log), speed)
        t = time.perf_counter_ns()
        x, source, units = self._run(self._front, feeds)
        unit_ms = (time.perf_counter_ns() - t) / 1e6 / (len(tokens) + FRONT_FIXED_TOKENS)
        return _Front(tokens, feeds["style"], x, kg.harmonics(source), np.asarray(units).reshape(-1), words, unit_ms)

    def _note_front(self, f: _Front) -> None:
        """The machine as this phrase's front found it: when the front ran BUSIER than the one the costs were
        measured at (another process took a core since), the costs are scaled up now — before the first piece
        is planned with them — rather than learnt from a piece that already came late."""
        ref = self._costs_unit_ms
        if ref > 0 and f.unit_ms > BUSIER * ref:
            factor = f.unit_ms / ref * PIECES_SLOW_MORE
            self.piece_ms_per_frame *= factor
            self.gen_ms_per_frame *= factor
            log.info("Kokoro: the front ran %.2f× slower than when the costs were measured: pieces planned at "
                     "%.1f ms a frame", f.unit_ms / ref, self.piece_ms_per_frame)
            self._costs_unit_ms = f.unit_ms  # the costs are this front's now
        else:  # the costs follow the machine piece by piece: so does their reference, averaged against noise
            self._costs_unit_ms = f.unit_ms if ref == 0 else 0.5 * ref + 0.5 * f.unit_ms

    def _whole(self, f: _Front | None, voice: str) -> AudioArray:
        """The whole phrase in one generator run, its statistics kept to calibrate this voice."""
        if f is None:
            return np.zeros(0, np.float32)
        t = time.perf_counter_ns()
        out = self._run(self._gen_whole, {kg.GEN_INPUT: f.gen_input, kg.HAR: f.har, "style": f.style})
        frames = f.gen_input.shape[2]
        self.gen_ms_per_frame = 0.8 * self.gen_ms_per_frame + 0.2 * (time.perf_counter_ns() - t) / 1e6 / frames
        self._norm_stats(voice).add(self._pad_share(f), frames, list(out[1:]))
        return as_mono_f32(out[0])

    @staticmethod
    def _pad_share(f: _Front) -> float:
        return float(f.units[0]) * kg.FRAMES_PER_UNIT / max(1, f.gen_input.shape[2])

    def _word_times(self, f: _Front, start_frame: int) -> list[tuple[int, int]]:
        """Each phoneme word's (start, end) in samples from `start_frame` (tokens 1.. are the phrase's)."""
        spu = kg.FRAMES_PER_UNIT * kg.SAMPLES_PER_FRAME
        bounds = np.concatenate([[0], np.cumsum(f.units)]) * spu - start_frame * kg.SAMPLES_PER_FRAME
        times: dict[int, list[int]] = {}
        for j, w in enumerate(f.word_of_token):
            if w < 0:
                continue
            a, b = int(bounds[j + 1]), int(bounds[j + 2])  # token j is unit j + 1 (unit 0: the leading pad)
            t = times.setdefault(w, [a, b])
            t[1] = b
        return [(max(0, a), max(0, b)) for _, (a, b) in sorted(times.items())]

    def synthesize_pieces(self, text: str, voice: str, speed: float, use_cache: bool = True,
                          due_ns: int | None = None, stream: bool = True) -> Iterator[SynthResult]:
        t0 = time.perf_counter_ns()
        log_: list[tuple[str, bool]] = []
        text = normalize_for_speech(text)
        key = (voice, round(speed, 3), text)
        cacheable = use_cache and self.caches_phrases and len(text) <= SHORT_PHRASE_CHARS
        if cacheable:
            hit = self.timed_cache.lookup(key)
            log_.append(("phrase_audio", hit is not None))
            if hit is not None:
                yield SynthResult(hit[0], self.rate, time.perf_counter_ns() - t0, log_, hit[1])
                return
        if self._split is None:
            audio = self._synthesize(text, voice, speed, log_)
            if cacheable:
                self.timed_cache.put(key, (audio, None))
            yield SynthResult(audio, self.rate, time.perf_counter_ns() - t0, log_)
            return
        f = self._prepare(text, voice, speed, log_)
        if f is not None:
            self._note_front(f)
        stats = self._norm_stats(voice)
        if f is None or not stream or not stats.ready or self._covered(f, due_ns):
            audio = self._whole(f, voice)
            times = self._word_times(f, 0) if f is not None else None
            if cacheable:
                self.timed_cache.put(key, (audio, times))
            yield SynthResult(audio, self.rate, time.perf_counter_ns() - t0, log_, times)
            return
        pieces: list[AudioArray] = []
        first_times: list[tuple[int, int]] | None = None
        for audio, compute_ns, times, last in self._pieces(f, stats, t0, due_ns):
            if times is not None:
                first_times = times
            pieces.append(audio)
            yield SynthResult(audio, self.rate, compute_ns, log_ if len(pieces) == 1 else [], times, last)
        if cacheable:
            self.timed_cache.put(key, (np.concatenate(pieces), first_times))

    def _covered(self, f: _Front, due_ns: int | None) -> bool:
        """The listener has enough audio queued to wait for the whole phrase (later phrases, mostly)."""
        if due_ns is None:
            return False
        need_ms = f.gen_input.shape[2] * self.gen_ms_per_frame  # a whole decode computes the pad too
        return (due_ns - time.perf_counter_ns()) / 1e6 * HEADROOM >= need_ms

    def _first_frames(self, rest: int, slack_ms: float) -> int:
        """The first piece's voice frames: the fewest (best TTFA) from which the pieces can then keep ahead
        of the listener to the phrase's end, at the cost per frame measured now (on the 2-core VM a frame
        cost 5.4 ms quiet, 6–8 ms while audio plays: a 20-frame first piece cannot keep ahead at 8)."""
        ms_frame = kg.SAMPLES_PER_FRAME * 1000 / self.rate
        size = FIRST_VOICE_FRAMES
        while size < rest:
            ahead, pos, ok = size * ms_frame + slack_ms, size, True  # the lead is trimmed: not counted
            while pos < rest:
                n = min(rest - pos, self._next_frames(ahead))
                if n < min(rest - pos, MIN_PIECE_FRAMES):  # the next piece could not be made in time
                    ok = False
                    break
                ahead += n * ms_frame - (n + 2 * CONTEXT_FRAMES) * self.piece_ms_per_frame
                pos += n
            if ok:
                return size
            size = int(size * 1.4)
        return rest

    def _gaining_frames(self, rest: int) -> int:
        """The smallest piece that gains on the listener at the cost per frame measured now: its run, context on
        both sides included, within CATCH_UP_SHARE of its audio (else within all of it). Smaller pieces, once
        behind, stay behind — a stutter of many gaps; one gap while this is made, then the pieces grow."""
        ms_frame = kg.SAMPLES_PER_FRAME * 1000 / self.rate
        for share in (CATCH_UP_SHARE, 1.0):
            if ms_frame * share > self.piece_ms_per_frame:
                cost = self.piece_ms_per_frame
                n = math.ceil(2 * CONTEXT_FRAMES * cost / (ms_frame * share - cost))
                if n * cost <= CATCH_UP_MS:
                    return min(rest, n)
        return 0  # near or past real time: no piece gains enough to be worth one long gap

    def _next_piece(self, floor: int, ahead_ms: float, rest: int) -> int:
        """A later piece's frames: what HEADROOM of the `ahead_ms` out ahead of the listener pays for, never smaller
        than the last (`floor`: each piece pays 2 · CONTEXT_FRAMES) nor than a piece that gains; a tail of the
        `rest` shorter than MIN_PIECE_FRAMES joins it."""
        n = max(floor, self._next_frames(ahead_ms), self._gaining_frames(rest))
        return rest if rest - n < MIN_PIECE_FRAMES else n

    def _next_frames(self, ahead_ms: float) -> int:
        return int(ahead_ms * HEADROOM / self.piece_ms_per_frame) - 2 * CONTEXT_FRAMES

    def _pieces(self, f: _Front, stats: NormStats, t0: int,
                due_ns: int | None) -> Iterator[tuple[AudioArray, int, list[tuple[int, int]] | None, bool]]:
        """(audio, compute ns, word times on the first, is it the last) for each piece, each sized to be made before the
        listener runs out of the audio already out: from the first piece on, or from `due_ns` when the audio
        of earlier phrases still plays then."""
        frames = f.gen_input.shape[2]
        voice_at = int(f.units[0]) * kg.FRAMES_PER_UNIT
        a = max(0, voice_at - LEAD_FRAMES)
        feeds = stats.predict(self._pad_share(f))
        out_s = 0.0
        t_first: int | None = None
        slack_ms = max(0.0, ((due_ns or 0) - time.perf_counter_ns()) / 1e6)
        n = voice_at - a + self._first_frames(frames - voice_at, slack_ms)
        times: list[tuple[int, int]] | None = self._word_times(f, a)
        lead = voice_at - a
        lead_s = lead * kg.SAMPLES_PER_FRAME / self.rate  # mostly silence, trimmed before it plays
        held: list[AudioArray] = []  # made and not yet out: from them alone the rest could not keep ahead
        floor = 0  # the next piece's least frames: never smaller than the last (each pays 2 · CONTEXT_FRAMES)
        while a < frames:
            if held:  # the fewest frames more from which the rest keeps ahead, at the cost the first run measured
                n = self._first_frames(frames - a, self._held_ms(held, lead))
            elif t_first is not None:
                dry_ns = max(due_ns or 0, t_first) + (out_s - lead_s) * 1e9  # when the listener runs out of audio
                n = self._next_piece(floor, (dry_ns - time.perf_counter_ns()) / 1e6, frames - a)
            b = frames if frames - (a + n) < MIN_PIECE_FRAMES else a + n
            s = max(0, a - (CONTEXT_FRAMES if t_first is not None or held else FIRST_LEFT_CONTEXT))
            e = min(frames, b + CONTEXT_FRAMES)
            t = time.perf_counter_ns()
            out = self._run(self._gen_fed, {kg.GEN_INPUT: f.gen_input[:, :, s:e],
                                            kg.HAR: f.har[:, :, kg.HAR_PER_FRAME * s:kg.HAR_PER_FRAME * e + 1],
                                            "style": f.style, **feeds})
            now = time.perf_counter_ns()
            cost = (now - t) / 1e6 / (e - s)
            self.piece_ms_per_frame = max(cost, 0.7 * self.piece_ms_per_frame + 0.3 * cost)
            audio = as_mono_f32(out[0])[(a - s) * kg.SAMPLES_PER_FRAME:(b - s) * kg.SAMPLES_PER_FRAME]
            if not np.isfinite(audio).all():  # never to the sink (the player, a socket): silence instead
                log.warning("Kokoro piece with non-finite samples (%d frames): silenced", b - a)
                audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
            last = b >= frames
            a = b
            if t_first is not None:
                floor = n
                yield audio, now - t, None, last
            else:
                held.append(audio)
                floor = n - lead if len(held) == 1 else 0  # the lead is not played; held pieces fed no listener
                margin = 1.0 if len(held) == 1 else HEADROOM
                # only while nothing earlier plays (a request's start): audio held back from a listener still
                # playing the phrase before would only bring its gap forward
                waiting = (due_ns or 0) <= now
                if not last and waiting and self._must_hold(frames - b, self._held_ms(held, lead), floor, margin):
                    if len(held) == 1:  # a certain gap at the cost this run measured (its plan has a margin)
                        log.info("Kokoro: the first piece cost %.1f ms a frame, more than its plan allowed: held "
                                 "back until the rest can keep ahead of the listener", cost)
                    continue
                audio = np.concatenate(held) if len(held) > 1 else audio
                held = []
                t_first = now
                yield audio, now - t0, times, last
            out_s += len(audio) / self.rate

    def _must_hold(self, rest: int, ahead_ms: float, floor: int, margin: float = 1.0) -> bool:
        """Whether one of the pieces this loop would make for the last `rest` frames (`_next_piece`, from `floor`)
        would cost more than `margin` of the audio the listener has then, from `ahead_ms` now, at the cost per
        frame the last run measured. A first piece is held back only for a certain gap (margin 1: the
        plan has its own, and a run over plan that still comes in time is noise, not a reason to wait); once held,
        the machine is known slow and the wait is paid: the pieces go out when the plan's margin holds again."""
        ms_frame = kg.SAMPLES_PER_FRAME * 1000 / self.rate
        pos = 0
        while pos < rest:
            n = self._next_piece(floor, ahead_ms, rest - pos)
            cost_ms = (n + 2 * CONTEXT_FRAMES) * self.piece_ms_per_frame
            if cost_ms > ahead_ms * margin:
                return True
            ahead_ms += n * ms_frame - cost_ms
            pos, floor = pos + n, n
        return False

    def _held_ms(self, held: list[AudioArray], lead: int) -> float:
        """The audio the listener would have if the pieces held back went out now (their lead is trimmed)."""
        return (sum(len(h) for h in held) - lead * kg.SAMPLES_PER_FRAME) * 1000 / self.rate

    def _run(self, session: Any, feeds: dict[str, Any]) -> Any:
        if session is None:
            raise SynthesisCancelled() if self._cancel_pending else RuntimeError("Kokoro is not loaded")
        return super()._run(session, feeds)
