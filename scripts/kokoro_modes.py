"""Kokoro in pieces vs phrase at a time: TTFA (audible) on the bench texts, the two strategies alternating, each
text played up to 4 s — quicker than `bench --compare`, which also runs the slow baselines.

Usage: .venv/bin/python scripts/kokoro_modes.py [ROUNDS]   (needs the JACK device: scripts/jack-dummy.sh start)"""

from __future__ import annotations

import statistics
import sys

from voicetrace.bench.compare import _run_one, _warm_engines_and_device, load_texts, strategy_session


def main(rounds: int) -> None:
    workers, player = _warm_engines_and_device(["kokoro"], None)
    w = workers["kokoro"]
    texts = load_texts(["short", "sentence", "paragraph"])
    got: dict[tuple[str, str], list[tuple[float, int]]] = {}
    try:
        for _ in range(rounds):
            for strategy in ("voicetrace_whole", "voicetrace"):
                key, session = strategy_session(player, w, "kokoro", strategy)
                try:
                    for name, text in texts.items():
                        m = _run_one(session, key, text, w.engine.default_voice, 4.0, None)
                        got.setdefault((strategy, name), []).append((m["ttfa_audible_ms"], m["underruns"]))
                finally:
                    session.close()
    finally:
        player.close()
        w.stop()
    print("text       whole (ms)  pieces (ms)  ratio  underruns pieces / whole")
    for name in texts:
        whole = statistics.median(t for t, _ in got[("voicetrace_whole", name)])
        pieces = statistics.median(t for t, _ in got[("voicetrace", name)])
        print(f"{name:10s} {whole:8.0f}   {pieces:8.0f}      {pieces / whole:5.2f}  "
              f"{sum(u for _, u in got[('voicetrace', name)])} / {sum(u for _, u in got[('voicetrace_whole', name)])}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
