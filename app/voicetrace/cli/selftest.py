"""`voicetrace --self-test`: is this installation whole? Loads every packaged engine, speaks a sentence with
each through the default output device (or, with no device, writes it to a WAV file), prints one JSON object
with the metrics and exits 0 only if every engine spoke. Needs no display."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import DeviceError, UserError

SENTENCE = "VoiceTrace self test: this installation can speak."
ENGINES = ("kokoro", "piper")


def _speak_on_device(device: Any, engines: dict[str, Any]) -> dict[str, Any]:
    from ..core.session import Session

    session = Session(device, engines)
    out: dict[str, Any] = {}
    try:
        for eid in engines:
            req = session.submit(SENTENCE, eid)
            if not req.finished.wait(120):
                req.cancel()
            out[eid] = req.result(timeout=5).to_dict()
    finally:
        session.close()
    return out


def _speak_to_wav(engines: dict[str, Any], folder: Path) -> dict[str, Any]:
    import wave

    import numpy as np

    out: dict[str, Any] = {}
    for eid, src in engines.items():
        t = time.perf_counter()
        res = src.engine.synthesize(SENTENCE, src.default_voice, 1.0, use_cache=False)
        path = folder / f"voicetrace-self-test-{eid}.wav"
        with wave.open(str(path), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(res.rate)
            f.writeframes((np.clip(res.audio, -1, 1) * 32767).astype("<i2").tobytes())
        audio_ms = len(res.audio) / res.rate * 1000
        out[eid] = {"engine": eid, "outcome": "done" if audio_ms > 500 else "failed", "wav": str(path),
                    "audio_ms": round(audio_ms, 1), "synth_ms": round((time.perf_counter() - t) * 1000, 1),
                    "rtf": round(res.compute_ns / 1e6 / audio_ms, 4) if audio_ms else None,
                    "engine_load_ms": src.load_ms}
    return out


def run_self_test(device_spec: str | None = None, wav_dir: str | None = None) -> int:
    from ..audio.player import Player
    from ..core.pipeline import LocalSource

    report: dict[str, Any] = {"version": __version__, "python": platform.python_version(),
                              "frozen": bool(getattr(sys, "frozen", False)), "platform": platform.platform()}
    sources = {eid: LocalSource.load(eid) for eid in ENGINES}
    try:
        for eid, src in sources.items():
            try:
                src.wait_ready(300)
            except Exception as exc:
                raise UserError(f"self-test: engine {eid} does not load ({exc})",
                                "the installation is incomplete: reinstall VoiceTrace") from exc
        try:
            player = Player(device_spec)
        except DeviceError as exc:
            report["device"] = None
            report["device_error"] = str(exc)
            folder = Path(wav_dir or tempfile.gettempdir())
            report["results"] = _speak_to_wav(sources, folder)
        else:
            player.start()
            try:
                report["device"] = player.device.name
                report["results"] = _speak_on_device(player, sources)
            finally:
                player.close()
    finally:
        for src in sources.values():
            src.stop()
    ok = all(r.get("outcome") == "done" for r in report["results"].values())
    report["ok"] = ok
    print(json.dumps(report))
    return 0 if ok else 1


def cmd_self_test(args: argparse.Namespace) -> int:
    return run_self_test(args.device, args.wav_dir)
