"""`voicetrace serve`: the engines over HTTP (OpenAI-compatible) and a WebSocket."""

from __future__ import annotations

import argparse


def cmd_serve(args: argparse.Namespace) -> int:
    from ..server.run import serve
    from ..server.service import Limits

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    limits = Limits(max_streams=args.max_streams, max_chars=args.max_chars, per_minute=args.rate)
    return serve(args.host, args.port, args.token, engines, args.device, limits, args.schedule)
