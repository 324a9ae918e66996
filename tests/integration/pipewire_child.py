"""Child process for test_pipewire: runs in the PipeWire lane's environment (its XDG_RUNTIME_DIR and ALSA config,
set before PortAudio initialises), plays on ALSA's `default` (→ PipeWire) while the independent recorder (a JACK
client of PipeWire's, on the sink's monitor) records: Piper spoken, Piper cancelled mid-sentence, Piper paused and
resumed, Kokoro spoken. Reports the records and the recorder's differences (one JSON line)."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from voicetrace.audio.player import Player
from voicetrace.bench.observer import Observer, RunMarks, check_runs
from voicetrace.contract import Cancel, Play
from voicetrace.core.pipeline import LocalSource
from voicetrace.core.session import Request, Session

piper, kokoro = LocalSource.load("piper"), LocalSource.load("kokoro")
piper.wait_ready(300)
kokoro.wait_ready(300)
player = Player("default")
player.start()
session = Session(player, {"piper": piper, "kokoro": kokoro})


def first_audio(req: Request) -> None:
    deadline = time.monotonic() + 60
    while not any(isinstance(e, Play) and e.n > 0 for e in req.trace.events) and time.monotonic() < deadline:
        time.sleep(0.01)


observer = Observer.for_player(Path(tempfile.mkdtemp()) / "observer.npz", player)
with observer:
    spoken_req = session.submit("Hello from the PipeWire lane: one sentence, played through ALSA's default device.",
                                "piper")
    spoken = spoken_req.result(timeout=60)
    time.sleep(0.3)
    req = session.submit("This one is cancelled while it plays, and nothing of it may be heard after the fade; "
                         "the rest of the sentence is dropped.", "piper")
    first_audio(req)
    time.sleep(0.3)
    req.cancel()
    cancelled = req.result(timeout=60)
    time.sleep(0.3)
paused_req = session.submit("This sentence is paused for half a second in its middle, then it goes on to its end.",
                            "piper")
first_audio(paused_req)
time.sleep(0.4)
session.pause()
time.sleep(0.5)
session.resume()
paused = paused_req.result(timeout=60)
said = session.submit("And Kokoro speaks here too, through the same sound server.", "kokoro").result(timeout=120)
session.close()
player.close()
piper.stop()
kokoro.stop()
assert observer.recording is not None
cancel = req.trace.first(Cancel)
checks = check_runs(observer.recording, [
    RunMarks(spoken_req.t_submit_ns, spoken.ttfa_audible_ms, spoken.ttfa_voiced_ms, None, None),
    RunMarks(req.t_submit_ns, cancelled.ttfa_audible_ms, cancelled.ttfa_voiced_ms,
             cancel.t_ns if cancel is not None else None, cancelled.cancel_to_silence_ms)])
print("RESULT " + json.dumps({
    "rate": player.rate, "latency_ms": spoken.output_latency_ms, "device": spoken.device,
    "estimated": spoken.dac_time_estimated, "recorded": observer.source,
    "spoken": [spoken.outcome, spoken.error, spoken.underruns, spoken.ttfa_audible_ms],
    "cancelled": [cancelled.outcome, cancelled.error, cancelled.stale_samples_after_cancel,
                  cancelled.cancel_to_silence_ms],
    "paused": [paused.outcome, paused.error, paused.underruns, paused.pauses, paused.paused_ms],
    "kokoro": [said.outcome, said.error, said.underruns, said.ttfa_audible_ms],
    "diffs_ms": [c[k] for c in checks for k in ("ttfa_diff_ms", "voiced_diff_ms", "cancel_diff_ms")]}), flush=True)
