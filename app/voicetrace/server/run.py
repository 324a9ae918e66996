"""Start `voicetrace serve`: check the bind is safe, warm the engines, then serve with uvicorn."""

from __future__ import annotations

import ipaddress
import os
import sys
import time

from ..errors import UserError
from .service import Limits, SpeechService

# Larger WebSocket messages close the socket (code 1009); below it, anything over the service's own limit
# (4 bytes per character of --max-chars) gets an `error` message and the socket stays.
WS_MAX_BYTES = 4 * 1024 * 1024


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise UserError(f"refusing to listen on {host} without a token: anyone who can reach it could use it",
                        "pass --token SECRET (or set VOICETRACE_TOKEN), or keep the default --host 127.0.0.1")


def serve(host: str, port: int, token: str | None, engines: list[str], device: str, limits: Limits,
          schedule: str = "deadline") -> int:
    import uvicorn

    from .app import build_app

    token = token or os.environ.get("VOICETRACE_TOKEN") or None
    check_bind(host, token)
    t = time.perf_counter()
    service = SpeechService(engines, device=device, limits=limits, schedule=schedule)
    for eid, w in service.sources.items():
        w.ready.wait()
        state = "ready" if w.error is None else f"failed: {w.error}"
        print(f"voicetrace serve: engine {eid} {state} ({w.engine.load_ms or 0:.0f} ms load, "
              f"{w.engine.warmup_ms or 0:.0f} ms warm-up)", file=sys.stderr)
    if not service.ready_engines():
        service.close()
        raise UserError("no engine could be loaded", "see `voicetrace models --verify`")
    scheme_host = f"[{host}]" if ":" in host else host
    print(f"voicetrace serve: ready in {time.perf_counter() - t:.1f} s on http://{scheme_host}:{port} "
          f"(WebSocket ws://{scheme_host}:{port}/v1/stream){' with a bearer token' if token else ''}",
          file=sys.stderr, flush=True)
    config = uvicorn.Config(build_app(service, token), host=host, port=port, log_level="warning",
                            ws_max_size=WS_MAX_BYTES, timeout_graceful_shutdown=2)
    try:
        uvicorn.Server(config).run()
    finally:
        service.close()
    return 0
