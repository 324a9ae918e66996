"""Piper voices straight on onnxruntime with espeak-ng phonemes (no GPL piper-tts package needed)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..contract import AudioArray
from ..errors import ModelError, UserError
from .base import Engine, as_mono_f32, make_session
from .phonemes import ESPEAK_LOCK, espeak_backend


class PiperEngine(Engine):
    max_phonemes = 2000

    def __init__(self, entry: Any, device: str = "cpu") -> None:
        super().__init__(entry, device)
        self._session: Any = None
        self._backend: Any = None
        self._id_map: dict[str, list[int]] = {}
        self._scales = np.zeros(3, np.float32)
        self._speakers: dict[str, int] = {}

    def _load(self) -> None:
        cfg_path = self.entry.path("config")
        try:
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
            self._id_map = {k: list(v) for k, v in cfg["phoneme_id_map"].items()}
            inf = cfg.get("inference", {})
            self._scales = np.array([inf.get("noise_scale", 0.667), inf.get("length_scale", 1.0),
                                     inf.get("noise_w", 0.8)], np.float32)
            self.rate = int(cfg["audio"]["sample_rate"])
            self._speakers = {str(k): int(v) for k, v in (cfg.get("speaker_id_map") or {}).items()}
            language = cfg.get("espeak", {}).get("voice", "en-us")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"Piper voice config {cfg_path} is unreadable ({exc})",
                             "replace it with the .onnx.json that came with the voice") from exc
        self._session = make_session(str(self.entry.path("model")), device=self.device, **self.tuning)
        self._backend = espeak_backend(language)

    def voices(self) -> list[str]:
        return sorted(self._speakers) if self._speakers else [self.entry.default_voice]

    def check_voice(self, voice: str) -> None:
        if voice not in self.voices():
            raise UserError(f"unknown voice {voice!r} for {self.name}", "choose one of: " + ", ".join(self.voices()))

    def phonemize(self, text: str) -> str:
        with ESPEAK_LOCK:
            return str(self._backend.phonemize([text], strip=True)[0])

    def _synthesize(self, text: str, voice: str, speed: float, cache_log: list[tuple[str, bool]]) -> AudioArray:
        phonemes = self.phonemes_cached(text, cache_log)
        pad, ids = self._id_map["_"], list(self._id_map["^"]) + list(self._id_map["_"])
        spoken = 0
        for ph in phonemes:
            if ph in self._id_map:
                ids += self._id_map[ph] + pad
                spoken += ph.isalpha()
        ids += self._id_map["$"]
        if spoken == 0:
            return np.zeros(0, np.float32)
        scales = self._scales.copy()
        scales[1] /= speed  # length_scale: larger is slower
        feeds = {"input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)], np.int64),
                 "scales": scales}
        if self._speakers:
            feeds["sid"] = np.array([self._speakers.get(voice, 0)], np.int64)
        return as_mono_f32(self._run(self._session, feeds)[0])
