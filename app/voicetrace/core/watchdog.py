"""The output watchdog: a stream that stops calling back fails what is live instead of hanging it.

A PortAudio stream whose device went away (unplugged, its sound server killed or stopped) or whose sound server
stopped serving it (an ALSA stream into a PipeWire graph that a JACK client runs at a larger quantum: its next
callback came 11.6 s later, docs/measurements.md) just stops calling back: no error, no status flag. Nothing
waiting on its records would ever end. The session's pump asks `stalled_s` on every pass (core/session.py) and,
past STALL_S, fails the live requests with `stall_message` and has the stream reopened by the next request;
the window shows the same message in its banner (desk/core.py)."""

from __future__ import annotations

from typing import Any

STALL_S = 1.5  # a running stream that has not called back for this long has stopped


def stalled_s(output: Any) -> float | None:
    """How long `output`'s running stream has gone without a callback, when that is more than STALL_S; None
    while it calls back, while it is not running (closed, in standby), or for a sink that has no stream."""
    since = getattr(output, "seconds_since_callback", None)
    if since is None or not getattr(output, "running", False):
        return None
    seconds = float(since())
    return seconds if seconds > STALL_S else None


def stall_message(device_name: str | None, seconds: float) -> str:
    """What happened and what to do, for a request, the CLI's error line and the window's banner."""
    name = f"the output device {device_name!r}" if device_name else "the output device"
    return (f"{name} stopped playing: no callback for {seconds:.1f} s (unplugged, its sound "
            "server stopped, or a JACK client in a PipeWire graph stalled it); the request was stopped: pick "
            "another output or restart the sound server")
