"""`voicetrace --self-test`: is this installation whole? Loads every packaged engine, speaks a sentence with
each through the default output device (or, with no device, writes it to a WAV file), prints one JSON object
with the metrics and exits 0 only if every engine spoke. Needs no display."""

from __future__ import annotations

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
    from ..core.report import request_record
    from ..core.session import Session

    session = Session(device, engines)
    out: dict[str, Any] = {}
    try:
        for eid, w in engines.items():
            req = session.submit(SENTENCE, eid)
            if not req.finished.wait(120):
                session.cancel(req.id)
                req.finished.wait(5)
            time.sleep(0.15)
            m = session.metrics(req.id)
            out[eid] = request_record(m, engine_load_ms=w.engine.load_ms, warmup_ms=w.engine.warmup_ms,
                                      device=device.device.name, device_rate=device.rate,
                                      output_latency_ms=round(device.output_latency_s * 1000, 3),
                                      skipped_phrases=req.skipped)
    finally:
        session.close()
    return out


def _speak_to_wav(engines: dict[str, Any], folder: Path) -> dict[str, Any]:
    import wave

    import numpy as np

    out: dict[str, Any] = {}
    for eid, w in engines.items():
        t = time.perf_counter()
        res = w.engine.synthesize(SENTENCE, w.engine.default_voice, 1.0, use_cache=False)
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
                    "engine_load_ms": w.engine.load_ms}
    return out


def run_self_test(device_spec: str | None = None, wav_dir: str | None = None) -> int:
    from ..audio.player import Player
    from ..core.worker import EngineWorker
    from ..engines import create_engine
    from ..engines.catalog import find_model

    report: dict[str, Any] = {"version": __version__, "python": platform.python_version(),
                              "frozen": bool(getattr(sys, "frozen", False)), "platform": platform.platform()}
    workers = {eid: EngineWorker(create_engine(find_model(eid))).start() for eid in ENGINES}
    try:
        for eid, w in workers.items():
            try:
                w.wait_ready(300)
            except Exception as exc:
                raise UserError(f"self-test: engine {eid} does not load ({exc})",
                                "the installation is incomplete: reinstall VoiceTrace") from exc
        try:
            player = Player(device_spec)
        except DeviceError as exc:
            report["device"] = None
            report["device_error"] = str(exc)
            folder = Path(wav_dir or tempfile.gettempdir())
            report["results"] = _speak_to_wav(workers, folder)
        else:
            player.start()
            try:
                report["device"] = player.device.name
                report["results"] = _speak_on_device(player, workers)
            finally:
                player.close()
    finally:
        for w in workers.values():
            w.stop()
    ok = all(r.get("outcome") == "done" for r in report["results"].values())
    report["ok"] = ok
    print(json.dumps(report))
    return 0 if ok else 1
