"""Child process for test_pipewire: runs in the PipeWire lane's environment (its XDG_RUNTIME_DIR and ALSA config,
set before PortAudio initialises), plays Piper on ALSA's `default` (→ PipeWire), then cancels one mid-sentence.
Reports the two records (one JSON line)."""

from __future__ import annotations

import json
import time

from voicetrace.audio.player import Player
from voicetrace.contract import Play
from voicetrace.core.pipeline import LocalSource
from voicetrace.core.session import Session

source = LocalSource.load("piper")
source.wait_ready(300)
player = Player("default")
player.start()
session = Session(player, {"piper": source})
spoken = session.submit("Hello from the PipeWire lane: one sentence, played through ALSA's default device.",
                        "piper").result(timeout=60)
req = session.submit("This one is cancelled while it plays, and nothing of it may be heard after the fade; "
                     "the rest of the sentence is dropped.", "piper")
deadline = time.monotonic() + 60
while not any(isinstance(e, Play) and e.n > 0 for e in req.trace.events) and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(0.3)
req.cancel()
cancelled = req.result(timeout=60)
session.close()
player.close()
source.stop()
print("RESULT " + json.dumps({
    "rate": player.rate, "latency_ms": spoken.output_latency_ms, "device": spoken.device,
    "spoken": [spoken.outcome, spoken.error, spoken.underruns, spoken.ttfa_audible_ms],
    "cancelled": [cancelled.outcome, cancelled.error, cancelled.stale_samples_after_cancel,
                  cancelled.cancel_to_silence_ms]}), flush=True)
