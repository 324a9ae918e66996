"""Engines: one small interface (load, warm, synthesize one phrase, cancel) over Kokoro and Piper."""

from __future__ import annotations

from .base import Engine
from .catalog import ModelEntry


def create_engine(entry: ModelEntry, device: str = "cpu") -> Engine:
    if entry.engine == "kokoro":
        from .kokoro import KokoroEngine

        return KokoroEngine(entry, device)
    if entry.engine == "piper":
        from .piper import PiperEngine

        return PiperEngine(entry, device)
    raise ValueError(f"no engine for {entry.engine!r}")
