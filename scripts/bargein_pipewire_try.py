"""Barge-in by voice on PipeWire, by hand (issue 26, item 5): the app's speakers and microphone are two nodes of one
graph — ALSA `default` out to the lane's null sink `speakers`, ALSA `default` in from a virtual source fed by a
second null sink, `micfeed` — and a JACK client of PipeWire's (pw-jack's library) reads the speakers' monitor,
puts it through a RT60 0.5 s room (or not: a headset), adds a fan and a user's line, and plays it into `micfeed`.
Prints one line per trial: outcome, route, when barge-in armed, ERLE, onset → silence, stale samples.

    export VOICETRACE_PW_LANE=/tmp/pwl; bash scripts/pipewire-lane.sh start; eval "$(bash scripts/pipewire-lane.sh env)"
    pactl load-module module-null-sink sink_name=micfeed sink_properties=device.description=MicFeed
    pactl load-module module-remap-source master=micfeed.monitor source_name=microphone \\
        source_properties=device.description=Microphone
    pactl set-default-source microphone
    JACK_NO_START_SERVER=1 LD_LIBRARY_PATH=/usr/lib/$(uname -m)-linux-gnu/pipewire-0.3/jack \\
        python scripts/bargein_pipewire_try.py

Not in `make test`: with the room convolved in 128-frame blocks the injector's client hung in `deactivate` (its
process callback, convolving in Python, competing for the GIL with the listener), and the run's later trials never
came; in 256-frame blocks one whole run went through. AEC3's ERLE here was ~10 dB against ~29 on JACK (not looked
into: the DAC times are PortAudio's estimate through the plugin, the graph changes its quantum).
"""
from __future__ import annotations

import faulthandler
import time

import numpy as np

from voicetrace.audio.player import Player
from voicetrace.bargein.listener import BargeInConfig, VoiceBargeIn
from voicetrace.contract import Play
from voicetrace.core.pipeline import LocalSource
from voicetrace.core.session import Session
from voicetrace.testing.inject import Injector
from voicetrace.testing.room import BlockConvolver, fan_noise, room_ir

TEXT = ("The history of the lighthouse begins with fires lit on hills to guide ships home at night. Later, "
        "towers carried lamps and mirrors, and the keepers who tended them lived beside the sea for months at "
        "a time. Today most lights are automatic, yet many towers still stand as museums along the coast.")
RATE = 48_000  # the lane's graph


def trial(player: Player, piper: LocalSource, line: np.ndarray, kind: str, user_at: float | None) -> None:
    session = Session(player, {"piper": piper})
    current: list = []
    listening = VoiceBargeIn(player, lambda: current[0] if current else None, session.cancel,
                             config=BargeInConfig())
    with Injector(target="MicFeed", background=fan_noise(12.0, RATE, -50.0),
                  echo_from="^Speakers:monitor_FL$") as inj:
        if kind == "room":  # PipeWire's JACK changes its period with the graph's quantum: 256 divides them here
            inj._room = BlockConvolver(room_ir(RATE, 0.5), 256)
        req = session.submit(TEXT, "piper")
        current.append(req)
        while not req.finished.wait(0.005) and not any(e.n for e in req.trace.of(Play)):
            pass
        if user_at is not None:
            inj.play(line, user_at)
        if not req.finished.wait(8.0):
            session.cancel(req.id)
        req.finished.wait(30)
        while inj.playing:
            time.sleep(0.05)
        time.sleep(0.3)
    listening.close()
    session.close()
    m = session.metrics(req.id)
    b = m.barge_in
    figures = {k: getattr(b, k) for k in ("trigger_ms", "route", "armed_ms", "erle_db", "onset_to_silence_ms")} if b \
        else None
    print(kind, user_at, m.outcome, figures, "stale", m.stale_samples_after_cancel, "underruns", m.underruns,
          flush=True)


def main() -> None:
    faulthandler.dump_traceback_later(300, exit=True)  # the hang described above: say where, then leave
    kokoro = LocalSource.load("kokoro")
    kokoro.wait_ready(300)
    said = kokoro.engine.synthesize("Wait, stop, that is not what I asked for.", "jf_alpha", 1.0, use_cache=False)
    line = np.interp(np.arange(2 * len(said.audio)) / 2, np.arange(len(said.audio)), said.audio).astype(np.float32)
    kokoro.stop()
    piper = LocalSource.load("piper")
    piper.wait_ready(300)
    player = Player("default")
    player.start()
    try:
        for kind, at in [("room", None)] * 4 + [("room", 2.5), ("room", 5.0), ("headset", 0.5)]:
            trial(player, piper, line, kind, at)
    finally:
        player.close()
        piper.stop()


if __name__ == "__main__":
    main()
