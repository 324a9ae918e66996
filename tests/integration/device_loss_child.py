"""Child process for test_device_loss: plays on the JACK server named in $JACK_DEFAULT_SERVER, waits while
the parent kills that server mid-sentence, then reports what the app saw (one JSON line)."""

from __future__ import annotations

import json
import sys
import time

from voicetrace.audio.devices import exit_now_if_portaudio_unsafe
from voicetrace.contract import Play
from voicetrace.desk.core import DeskCore
from voicetrace.errors import UserError

core = DeskCore()
core.start_engine("piper").wait_ready(300)
core.open_device(None)
req = core.speak("This sentence keeps going for a good while, so that the device can vanish in the middle of it, "
                 "and then we see what the app says about it.", "piper", None, 1.0)
while not any(isinstance(e, Play) and e.n > 0 for e in req.trace.events):
    time.sleep(0.01)
print("PLAYING", flush=True)
sys.stdin.readline()  # the parent has killed the server
t_kill = time.perf_counter()
while core.check_device() is None and time.perf_counter() - t_kill < 20:
    time.sleep(0.05)
t_noticed = time.perf_counter()
req.finished.wait(5)
time.sleep(0.3)
core.poll_finished()
try:
    core.speak("Again.", "piper", None, 1.0)
    speak_error = None
except UserError as exc:
    speak_error = str(exc)
t_close = time.perf_counter()
core.close()
print("RESULT " + json.dumps({
    "device_error": core.device_error, "records": [(r.outcome, r.error) for r in core.records],
    "speak_error": speak_error, "noticed_s": t_noticed - t_kill, "close_s": time.perf_counter() - t_close}),
    flush=True)
exit_now_if_portaudio_unsafe(0)  # as the app does: PortAudio's JACK back end would abort at exit
