"""What every engine shares: an onnxruntime session the app owns (threads, no spinning), one RunOptions
per run so cancel() can abort the run in flight, and the phoneme and short-phrase audio caches."""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..contract import AudioArray
from ..errors import ModelError, SynthesisCancelled, UserError
from ..text.normalize import normalize_for_speech
from .cache import LruCache
from .catalog import ModelEntry, ensure_files

SHORT_PHRASE_CHARS = 40  # audio of phrases up to this long is cached ("Sure.", "One moment.")


@dataclass
class SynthResult:
    audio: AudioArray  # float32 mono at `rate`
    rate: int
    compute_ns: int
    cache: list[tuple[str, bool]] = field(default_factory=list)  # (cache name, hit) lookups of this run
    # Where each word of the phrase sounds, (start, end) in samples from the start of the phrase's audio (its
    # first piece), when the engine knows (Kokoro's durations); on the first piece only.
    word_times: list[tuple[int, int]] | None = None
    last: bool = True  # False: more pieces of this phrase follow (so it can be sent on at once)


_shared_arena_lock = threading.Lock()
_shared_arena = False


def _register_shared_arena(ort: Any) -> None:
    """One CPU arena for every session in the process. Engines rarely run at once, and a per-session arena
    keeps its own high-water mark forever: measured here with both engines warm after a 150-word paragraph
    each, peak RSS was 793 MB with per-session arenas and 588 MB with this shared one, at the same RTF."""
    global _shared_arena
    with _shared_arena_lock:
        if _shared_arena:
            return
        info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 0, -1, -1))
        _shared_arena = True


def execution_providers(device: str) -> list[str]:
    """onnxruntime providers for `cpu` or `cuda`; UserError when CUDA is asked for and not installed."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device != "cuda":
        raise UserError(f"unknown device {device!r}", "use cpu or cuda")
    import onnxruntime as ort

    have = ort.get_available_providers()
    if "CUDAExecutionProvider" not in have:
        raise UserError(f"--device cuda needs onnxruntime's CUDA provider; this onnxruntime "
                        f"{ort.__version__} has only {', '.join(have)}",
                        "pip uninstall onnxruntime && pip install onnxruntime-gpu (with a CUDA 12 driver)")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def make_session(path: str, threads: int = 2, device: str = "cpu", spinning: bool = False,
                 opt_level: str = "all", optimized_path: str | None = None) -> Any:
    """The app's defaults; the other arguments exist for `bench --suite levers` (each measured there)."""
    import onnxruntime as ort

    providers = execution_providers(device)
    _register_shared_arena(ort)
    opts = ort.SessionOptions()
    opts.add_session_config_entry("session.use_env_allocators", "1")
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # A spinning idle pool steals the other core from the neighbour engine and the UI
    # (docs/measurements.md, "Engines: costs and session options").
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    opts.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                     "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                     "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[opt_level]
    if optimized_path is not None:
        opts.optimized_model_filepath = optimized_path  # written while loading: a later load can use it
    try:
        return ort.InferenceSession(path, sess_options=opts, providers=providers)
    except Exception as exc:  # onnxruntime raises its own types for a bad/truncated graph
        raise ModelError(f"model file {path} cannot be loaded ({str(exc).splitlines()[0][:160]})",
                         "it is corrupt or not an ONNX model: reinstall or replace it") from exc


class Engine(abc.ABC):
    """Load once, warm once, then synthesize one phrase at a time on the worker's thread (whole, or in pieces
    with `synthesize_pieces`); cancel() aborts the run in flight from any thread."""

    name: str
    rate: int
    max_phonemes: int = 10_000

    def __init__(self, entry: ModelEntry, device: str = "cpu") -> None:
        self.entry = entry
        self.device = device  # cpu | cuda (onnxruntime execution provider)
        self.name = entry.id
        self.rate = entry.sample_rate
        self.phoneme_cache: LruCache[str] = LruCache("phonemes", 2048)
        self.audio_cache: LruCache[AudioArray] = LruCache("phrase_audio", 128)
        # Short phrases' audio is kept for reuse ("OK.", a repeated reply). Off, every phrase is synthesized: the
        # benchmark compares its strategies so, on synthesis rather than on what a cache remembered.
        self.caches_phrases = True
        self._run_lock = threading.Lock()
        self._active_run: Any = None
        self._cancel_pending = False
        self.load_ms: float | None = None
        self.warmup_ms: float | None = None
        self.tuning: dict[str, Any] = {}  # make_session's options, for the benchmark's levers
        self._default_voice = entry.default_voice

    # ---- the interface ---------------------------------------------------------------------------
    def load(self) -> None:
        t = time.perf_counter()
        ensure_files(self.entry)
        self._load()
        self.load_ms = (time.perf_counter() - t) * 1000

    def warm(self) -> None:
        """The first run of a session is slow (allocations, kernel choice): pay it before any request."""
        t = time.perf_counter()
        self.synthesize("Warming up.", self.default_voice, 1.0, use_cache=False)
        self.synthesize("This is a warm-up sentence for the voice.", self.default_voice, 1.0, use_cache=False)
        self.warmup_ms = (time.perf_counter() - t) * 1000

    @property
    def default_voice(self) -> str:
        return self._default_voice

    def caches(self) -> list[LruCache[Any]]:
        """Every cache this engine keeps (their hit rates are metrics)."""
        return [self.phoneme_cache, self.audio_cache]

    @abc.abstractmethod
    def voices(self) -> list[str]: ...

    @abc.abstractmethod
    def check_voice(self, voice: str) -> None:
        """Raise UserError for an unknown voice or malformed blend."""

    @abc.abstractmethod
    def phonemize(self, text: str) -> str: ...

    def phonemes_cached(self, text: str, cache_log: list[tuple[str, bool]]) -> str:
        ph, hit = self.phoneme_cache.get_or_make(text, lambda: self.phonemize(text))
        cache_log.append(("phonemes", hit))
        return ph

    def fits(self, text: str) -> bool:
        # Not through the cache: a lookup here would make every synthesis look like a cache hit.
        return len(self.phonemize(normalize_for_speech(text))) <= self.max_phonemes

    def synthesize(self, text: str, voice: str, speed: float, use_cache: bool = True) -> SynthResult:
        """One phrase → audio. Raises SynthesisCancelled if cancel() aborted it."""
        t0 = time.perf_counter_ns()
        log: list[tuple[str, bool]] = []
        text = normalize_for_speech(text)
        if use_cache and self.caches_phrases and len(text) <= SHORT_PHRASE_CHARS:
            audio, hit = self.audio_cache.get_or_make(
                (voice, round(speed, 3), text), lambda: self._synthesize(text, voice, speed, log))
            log.append(("phrase_audio", hit))
        else:
            audio = self._synthesize(text, voice, speed, log)
        return SynthResult(audio, self.rate, time.perf_counter_ns() - t0, log)

    def synthesize_pieces(self, text: str, voice: str, speed: float, use_cache: bool = True,
                          due_ns: int | None = None, stream: bool = True) -> Iterator[SynthResult]:
        """One phrase → its audio in pieces, each as soon as it is made (an engine that can decode part of a
        phrase before the rest yields several; the rest yield one). Concatenated, the pieces are the phrase.
        `due_ns`: when the listener runs out of audio (perf_counter_ns; None: now) — an engine need not cut a
        phrase the buffered audio covers. `stream=False`: one piece (the phrase-at-a-time baseline)."""
        yield self.synthesize(text, voice, speed, use_cache=use_cache)

    def cancel(self) -> None:
        """Abort the run in flight (from any thread). The next run gets fresh RunOptions."""
        with self._run_lock:
            self._cancel_pending = True
            if self._active_run is not None:
                self._active_run.terminate = True

    def clear_cancel(self) -> None:
        with self._run_lock:
            self._cancel_pending = False

    # ---- for subclasses ---------------------------------------------------------------------------
    @abc.abstractmethod
    def _load(self) -> None: ...

    @abc.abstractmethod
    def _synthesize(self, text: str, voice: str, speed: float, cache_log: list[tuple[str, bool]]) -> AudioArray: ...

    def _run(self, session: Any, feeds: dict[str, Any]) -> Any:
        import onnxruntime as ort

        ro = ort.RunOptions()
        with self._run_lock:
            if self._cancel_pending:
                raise SynthesisCancelled()
            self._active_run = ro
        try:
            return session.run(None, feeds, ro)
        except Exception as exc:
            if ro.terminate:
                raise SynthesisCancelled() from exc
            raise
        finally:
            with self._run_lock:
                self._active_run = None


def as_mono_f32(x: Any) -> AudioArray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(-1))
