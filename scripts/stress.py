"""Long speak/cancel stress on the default output device: `.venv/bin/python scripts/stress.py --cycles 1000`.
Prints one JSON object per engine with the invariants' figures (see voicetrace/stress.py)."""

from __future__ import annotations

import argparse
import json
import sys

from voicetrace.audio.player import Player
from voicetrace.core.session import Session
from voicetrace.core.worker import EngineWorker
from voicetrace.engines import create_engine
from voicetrace.engines.catalog import find_model
from voicetrace.testing.stress import run_cycles


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--engines", default="piper,kokoro")
    ap.add_argument("--device")
    args = ap.parse_args()
    engines = args.engines.split(",")
    workers = {e: EngineWorker(create_engine(find_model(e))).start() for e in engines}
    for w in workers.values():
        w.wait_ready(300)
    player = Player(args.device)
    player.start()
    session = Session(player, workers)
    bad = 0
    try:
        for e in engines:
            rep = run_cycles(session, e, args.cycles)
            print(json.dumps({"engine": e, **rep.as_dict()}), flush=True)
            bad += len(rep.violations) + rep.stale_samples
    finally:
        session.close()
        player.close()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
