"""`voicetrace bench`: the measurement suites (installed with the `bench` extra; not in the bundle)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UserError


def cmd_bench(args: argparse.Namespace) -> int:
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if args.suite == "remote":
        from .remote import run_remote_suite

        levels = [int(x) for x in args.streams.split(",")]
        run_remote_suite(engines, args.repeat, Path(args.out), args.device, levels)
        return 0
    if args.suite == "first-chunk":
        from .compare import run_first_chunk

        modes = ("stream", "whole") if args.kokoro_mode == "both" else (args.kokoro_mode,)
        run_first_chunk(engines, args.max_words, args.repeat, Path(args.out), args.device, modes)
        return 0
    if args.suite == "levers":
        from .levers import run_levers

        run_levers(engines, args.repeat, Path(args.out), args.device)
        return 0
    if args.suite == "kokoro-stream":
        from .kokoro_stream import run_kokoro_stream

        run_kokoro_stream(Path(args.out), n_texts=args.wer or 15)
        return 0
    if args.suite == "stream-input":
        from .stream_input import run_stream_input

        rates = [float(x) for x in args.rates.split(",")]
        run_stream_input(engines, rates, args.repeat, Path(args.out), args.device, observe=args.observe,
                         wer=bool(args.wer), replies=args.replies)
        return 0
    if args.suite == "barge-in":
        return _barge_in(args)
    if args.suite == "window":
        from .window import run_window_suite

        run_window_suite(engines, args.paragraphs, Path(args.out))
        return 0
    if args.suite == "frameworks":
        from .frameworks import run_frameworks

        run_frameworks(engines, args.repeat, Path(args.out))
        return 0
    if args.suite != "compare":
        raise UserError(f"unknown bench suite {args.suite!r}",
                        "use --compare (the default), --suite first-chunk, levers, kokoro-stream, remote, barge-in, "
                        "stream-input, window or frameworks")
    from .compare import load_texts, run_compare

    texts = load_texts([t.strip() for t in args.texts.split(",") if t.strip()])
    run_compare(engines, texts, args.repeat, Path(args.out), args.device, args.play_limit, observe=args.observe,
                wer=args.wer)
    return 0


def _barge_in(args: argparse.Namespace) -> int:
    """`--mic clean`, `--mic room[,RT60…]` (or `--room RT60[,RT60…]`), or neither: the clean echo path."""
    from .barge_in import run_barge_in_suite, run_room_suite
    from .barge_in_clean import run_clean_mic_suite

    mic = args.mic or (f"room,{args.room}" if args.room else None)
    if mic is None:
        run_barge_in_suite(args.trials, Path(args.out), args.device)
        return 0
    kind, *rest = [x.strip() for x in mic.split(",")]
    if kind == "clean" and not rest:
        run_clean_mic_suite(args.trials, Path(args.out), args.device)
        return 0
    if kind != "room":
        print(f"voicetrace: error: --mic {mic!r}: give clean, or room with RT60 seconds, e.g. room,0.5 or "
              "room,0.3,0.8", file=sys.stderr)
        return 2
    try:
        rooms = [float(x) for x in rest] or [0.5]
    except ValueError:
        print(f"voicetrace: error: --mic {mic!r} (--room): give RT60 seconds, e.g. --mic room,0.5 or "
              "--room 0.3,0.8", file=sys.stderr)
        return 2
    if not all(0.05 <= r <= 3.0 for r in rooms):
        print("voicetrace: error: --room / --mic room: each RT60 must be 0.05-3 s", file=sys.stderr)
        return 2
    run_room_suite(rooms, args.trials, Path(args.out), args.device)
    return 0
