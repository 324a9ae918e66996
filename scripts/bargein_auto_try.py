"""Live, on the JACK device (JACK_DEFAULT_SERVER=voicetrace-test): how early can a user's line interrupt with the
default barge-in settings (`auto`, issue 27)? A fresh listener per trial, Piper speaking a paragraph; our JACK
client plays a Kokoro line into the capture port `at` seconds after the first audio — alone (a headset: nothing of
the app's output comes back), or over the app heard through a RT60 0.5 s room (speakers) — and headphones mode
on the headset for comparison. Prints one JSON row per trial: the route and why, when barge-in armed, whether
the line interrupted, onset → silence, the reported onset's error.

    JACK_DEFAULT_SERVER=voicetrace-test python scripts/bargein_auto_try.py [--repeat N] [--only clean|room]
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict

import numpy as np

from voicetrace.bargein.listener import BargeInConfig
from voicetrace.core.pipeline import LocalSource
from voicetrace.testing.listen import speak_listened
from voicetrace.testing.room import fan_noise, room_ir

PARAGRAPH = ("The history of the lighthouse begins with fires lit on hills to guide ships home at night. Later, "
             "towers carried lamps and mirrors, and the keepers who tended them lived beside the sea for months at "
             "a time. Today most lights are automatic, yet many towers still stand as museums along the coast.")
LINES = [("Wait, stop, that is not what I asked for.", "jf_alpha"),
         ("Sorry, can you stop there? I need to ask something.", "jm_kumo")]
RATE = 24_000


def trial(player, piper, clip, onset, at_s, mic, headphones=False):
    m, injected, t0 = speak_listened(player, piper, PARAGRAPH, config=BargeInConfig(headphones=headphones),
                                     user=(clip, onset), at_s=at_s, speak_s=at_s + 4.0,
                                     room=room_ir(RATE, 0.5) if mic == "room" else None,
                                     background=fan_noise(12.0, RATE, -50.0))
    b = asdict(m.barge_in) if m.barge_in else {}
    true = None if b.get("true_onset_ms") is None else round((t0 + b["true_onset_ms"] * 1e6 - injected) / 1e6)
    silence = (None if b.get("trigger_ms") is None or m.cancel_to_silence_ms is None else
               round((t0 + (b["trigger_ms"] + m.cancel_to_silence_ms) * 1e6 - injected) / 1e6))
    return {"mic": mic + (" headphones" if headphones else ""), "at_s": at_s,
            "interrupted": b.get("trigger_ms") is not None,
            "route": b.get("route"), "armed_ms": b.get("armed_ms"), "injected_onset_to_silence_ms": silence,
            "reported_minus_injected_onset_ms": true, "erle_db": b.get("erle_db"),
            "route_changes": b.get("route_changes"), "route_reason": b.get("route_reason")}


def main() -> None:
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 1
    from voicetrace.audio.player import Player

    kokoro = LocalSource.load("kokoro")
    kokoro.wait_ready()
    clips = []
    for text, voice in LINES:
        a = kokoro.engine.synthesize(text, voice, 1.0, use_cache=False).audio.astype(np.float32)
        clips.append((a, int(np.flatnonzero(np.abs(a) > 0.01)[0])))
    kokoro.stop()
    piper = LocalSource.load("piper")
    piper.wait_ready()
    player = Player()
    player.start()
    plan = ([("clean", at, False) for at in (0.0, 0.3, 0.6, 1.0, 3.0)] + [("clean", 3.0, True)]
            + [("room", at, False) for at in (0.5, 1.5, 2.5, 3.5)])
    if "--only" in sys.argv:
        plan = [p for p in plan if p[0] == sys.argv[sys.argv.index("--only") + 1]]
    try:
        for r in range(repeat):
            for k, (mic, at, hp) in enumerate(plan):
                clip, onset = clips[(k + r) % len(clips)]
                print(json.dumps(trial(player, piper, clip, onset, at, mic, hp)), flush=True)
    finally:
        player.close()
        piper.stop()


if __name__ == "__main__":
    main()
