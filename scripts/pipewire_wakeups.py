"""Wake-ups per second of a sound server's daemon (all its threads' context switches, the OS's counters): with no
stream, with VoiceTrace's output stream open and idle, while it speaks (Piper), and after the stream closed. The
daemon: the PipeWire lane's, or the process in the pid file given.

    export VOICETRACE_PW_LANE=/tmp/pwl; bash scripts/pipewire-lane.sh start; eval "$(bash scripts/pipewire-lane.sh env)"
    JACK_NO_START_SERVER=1 python scripts/pipewire_wakeups.py [PID_FILE]
"""
import os
import sys
import time
from pathlib import Path

lane = Path(os.environ.get("VOICETRACE_PW_LANE", "/tmp/voicetrace-pipewire-lane"))
pid = int(Path(sys.argv[1] if len(sys.argv) > 1 else lane / "pipewire.pid").read_text())


def switches() -> int:
    n = 0
    for t in Path(f"/proc/{pid}/task").iterdir():
        for line in (t / "status").read_text().splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                n += int(line.split()[1])
    return n


def rate(s: float = 5.0) -> float:
    a = switches()
    time.sleep(s)
    return (switches() - a) / s


print("no stream:", rate())
from voicetrace.audio.player import Player  # noqa: E402  (after the first figure: nothing loaded)
from voicetrace.core.pipeline import LocalSource  # noqa: E402
from voicetrace.core.session import Session  # noqa: E402

src = LocalSource.load("piper")
src.wait_ready(300)
print("no stream, engine loaded:", rate())
player = Player("default")
player.start()
time.sleep(1)
print("stream open, idle:", rate())
session = Session(player, {"piper": src})
text = " ".join(["This paragraph keeps the app speaking while the sound server's wake-ups are counted."] * 4)
req = session.submit(text, "piper")
time.sleep(1.0)
print("speaking:", rate(4.0))
req.result(timeout=60)
session.close()
player.close()
time.sleep(1)
print("stream closed:", rate())
src.stop()
