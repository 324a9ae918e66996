"""espeak-ng is one process-global, non-thread-safe library shared by Kokoro's and Piper's phonemizer:
every phonemization in the process goes through this one lock (it costs ~0.2 ms a sentence)."""

from __future__ import annotations

import threading
from typing import Any

ESPEAK_LOCK = threading.Lock()
_configured = False


def ensure_espeak() -> None:
    """Point phonemizer at the espeak-ng library and data shipped in the espeakng-loader wheel."""
    global _configured
    if _configured:
        return
    import espeakng_loader
    from phonemizer.backend.espeak.wrapper import EspeakWrapper

    with ESPEAK_LOCK:
        EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
        EspeakWrapper.set_library(espeakng_loader.get_library_path())
        _configured = True


def espeak_backend(language: str) -> Any:
    ensure_espeak()
    from phonemizer.backend import EspeakBackend

    with ESPEAK_LOCK:
        return EspeakBackend(language, preserve_punctuation=True, with_stress=True)
