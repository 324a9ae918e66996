"""Play through the sound card and get the measured record (TTFA at the DAC, cancel latencies, stale samples).

    python examples/speak_aloud.py [ENGINE] [--interrupt-after SECONDS]
"""

import sys
import time

import voicetrace as vt

name = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "piper"
interrupt = float(sys.argv[sys.argv.index("--interrupt-after") + 1]) if "--interrupt-after" in sys.argv else None

with vt.Session(output=vt.Player(device=None)) as s:  # the default output device; loads engines on first use
    s.engine(name).wait_ready()  # warm before the request, so TTFA is the request's, not the loading's
    r = s.speak("Hello from VoiceTrace. This is played through the sound card.", engine=name)
    if interrupt is not None:
        time.sleep(interrupt)
        r.cancel()
    m = r.result(timeout=60)
print(f"{m.outcome}: TTFA audible {m.ttfa_audible_ms} ms, cancel -> silence {m.cancel_to_silence_ms} ms, "
      f"stale samples {m.stale_samples_after_cancel}")
