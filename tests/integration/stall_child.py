"""Child process for test_stall_jack: plays on the JACK server named in $JACK_DEFAULT_SERVER; the parent stops
that server (SIGSTOP) mid-sentence and lets it go on once the request has failed; then a second request must
play on a new stream. Reports what the app saw (one JSON line)."""

from __future__ import annotations

import json
import sys
import time

from voicetrace.audio.devices import exit_now_if_portaudio_unsafe
from voicetrace.audio.player import Player
from voicetrace.contract import Play
from voicetrace.core.session import Session
from voicetrace.testing.fakes import FakeCost, fake_source

src = fake_source(FakeCost(audio_s_per_char=0.05))
player = Player()
player.start()
session = Session(player, {"fake": src})
req = session.submit("A sentence long enough to be playing when its sound server stops serving it, and more.",
                     "fake")
while not any(isinstance(e, Play) and e.n > 0 for e in req.trace.events):
    time.sleep(0.01)
print("PLAYING", flush=True)
sys.stdin.readline()  # the parent has stopped the server
t_stop = time.perf_counter()
ended = req.wait(30)
failed_s = time.perf_counter() - t_stop
print("FAILED" if ended else "HUNG", flush=True)
sys.stdin.readline()  # the parent has let the server go on
again = session.submit("Again, on a new stream.", "fake").result(timeout=30)
session.close()
player.close()
src.stop()
print("RESULT " + json.dumps({"outcome": req.outcome, "error": req.error, "failed_s": failed_s,
                              "again": again.outcome, "again_error": again.error, "again_underruns": again.underruns,
                              "again_ttfa_ms": again.ttfa_audible_ms}), flush=True)
exit_now_if_portaudio_unsafe(0)
