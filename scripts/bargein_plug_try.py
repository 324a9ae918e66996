"""Live, on the JACK device (JACK_DEFAULT_SERVER=…): a headset unplugged (the speakers start being heard through
a RT60 0.5 s room) or plugged in (they stop) 3 s into a long Piper paragraph, the default barge-in settings, a fan
at −50 dBFS; after "plug", a user's line. Prints the outcome, when barge-in fired, the route every 100 ms after
the switch (d: direct, a: aec3) with the detector's score. Issue 27's open part: see docs/measurements.md.

    JACK_DEFAULT_SERVER=voicetrace-test python scripts/bargein_plug_try.py
"""
from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from voicetrace.audio.player import Player
from voicetrace.bargein.listener import BargeInConfig, VoiceBargeIn
from voicetrace.contract import Play
from voicetrace.core.pipeline import LocalSource
from voicetrace.core.session import Session
from voicetrace.testing.inject import Injector
from voicetrace.testing.room import fan_noise, room_ir

PARAGRAPH = ("The history of the lighthouse begins with fires lit on hills to guide ships home at night. Later, "
             "towers carried lamps and mirrors, and the keepers who tended them lived beside the sea for months at "
             "a time. Today most lights are automatic, yet many towers still stand as museums along the coast.")
R = 24_000


def main() -> None:
    kokoro = LocalSource.load("kokoro")
    kokoro.wait_ready()
    line = kokoro.engine.synthesize("Wait, stop, that is not what I asked for.", "jf_alpha", 1.0,
                                    use_cache=False).audio.astype(np.float32)
    kokoro.stop()
    piper = LocalSource.load("piper")
    piper.wait_ready()
    player = Player()
    player.start()
    try:
        for case in ("unplug", "plug"):
            session = Session(player, {"piper": piper})
            session.use_cache = False
            current: list = []
            voice = VoiceBargeIn(player, lambda c=current: c[0] if c else None, session.cancel,
                                 config=BargeInConfig())
            log = []
            try:
                with Injector(room=room_ir(R, 0.5) if case == "plug" else None,
                              background=fan_noise(12.0, R, -50.0)) as injector:
                    req = session.submit(PARAGRAPH + " " + PARAGRAPH, "piper")
                    current.append(req)
                    while not req.finished.wait(0.005) and not any(e.n for e in req.trace.of(Play)):
                        pass
                    req.finished.wait(3.0)
                    injector.set_room(room_ir(R, 0.5) if case == "unplug" else None)
                    t_switch = time.perf_counter_ns()
                    for _ in range(30):
                        det = voice.listener.echo_path
                        log.append(f"{voice.listener.route[0]}{det.correlation if det is not None else ''}")
                        time.sleep(0.1)
                    if case == "plug":
                        injector.play(line, 0.5)
                    if not req.finished.wait(6.0):
                        session.cancel(req.id)
                    req.finished.wait(30)
                    while injector.playing:
                        time.sleep(0.05)
            finally:
                voice.close()
                session.close()
            bi = session.metrics(req.id).barge_in
            b = asdict(bi) if bi else {}
            print(case, "switch at", round((t_switch - req.t_submit_ns) / 1e6), "ms; barge-in at", b.get("trigger_ms"),
                  "route", b.get("route"), "changes", b.get("route_changes"), "held", voice.listener.echo_held,
                  " ".join(log), flush=True)
    finally:
        player.close()
        piper.stop()


if __name__ == "__main__":
    main()
