"""Kokoro-82M through kokoro-onnx, on a session the app owns (so cancel can terminate a run)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..contract import AudioArray
from ..errors import ModelError, UserError
from .base import Engine, as_mono_f32, make_session
from .cache import LruCache
from .phonemes import ESPEAK_LOCK, ensure_espeak
from .voices import parse_blend

KOKORO_MAX_PHONEMES = 510


class KokoroEngine(Engine):
    max_phonemes = KOKORO_MAX_PHONEMES

    def __init__(self, entry: Any, device: str = "cpu") -> None:
        super().__init__(entry, device)
        self.style_cache: LruCache[AudioArray] = LruCache("voice_style", 32)
        self._voices: dict[str, AudioArray] = {}
        self._kokoro: Any = None
        self._session: Any = None

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
        self._session = make_session(str(self.entry.path("model")), device=self.device, **self.tuning)
        with ESPEAK_LOCK:
            self._kokoro = Kokoro.from_session(self._session, str(voices_path))
        if self.entry.default_voice not in self._voices:  # a user model with other voice names
            self._default_voice = sorted(self._voices)[0]

    def caches(self) -> list[LruCache[Any]]:
        return [*super().caches(), self.style_cache]

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

    def _synthesize(self, text: str, voice: str, speed: float, cache_log: list[tuple[str, bool]]) -> AudioArray:
        phonemes = self.phonemes_cached(text, cache_log)
        if len(phonemes) > self.max_phonemes:
            raise UserError(f"a phrase is {len(phonemes)} phonemes, over Kokoro's {self.max_phonemes}",
                            "split the text at punctuation")
        tokens = self._kokoro.tokenizer.tokenize(phonemes)
        if not tokens:
            return np.zeros(0, np.float32)  # nothing speakable (emoji, symbols): reported by the session
        style = self._style(voice, cache_log)
        k = self._kokoro
        dtypes = k._input_dtypes
        feeds = {
            k._tokens_input: np.array([[0, *tokens, 0]], dtype=dtypes[k._tokens_input]),
            "style": np.asarray(style[min(len(tokens), len(style)) - 1], dtype=dtypes["style"]).reshape(1, -1),
            "speed": np.array([speed], dtype=dtypes["speed"]),
        }
        return as_mono_f32(self._run(self._session, feeds)[0])
