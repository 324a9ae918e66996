"""How to open an ALSA device that is a sound server's door (PipeWire's or PulseAudio's `default`, `pipewire`,
`pulse`): at the graph's rate, with a buffer that covers the graph's quantum.

PortAudio reports 44 100 Hz for ALSA's `default` whatever the graph runs at, so a stream opened at that rate is
resampled twice (ours, then the server's). And a stream asking `latency="low"` gets an ALSA buffer shorter than
the graph's quantum once a JACK client (through pw-jack) runs the graph at 1024 frames: its period is never
filled and it stops calling back (0 callbacks in 3 s; `latency="high"`, 34.8 ms, played normally;
docs/measurements.md, "What stalls on PipeWire, narrowed"). The callback's block stays small either way: only
the buffer behind it grows. JACK and hardware devices are opened as before: at their rate, at low latency."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

SERVER_NAMES = ("pipewire", "pulse")  # ALSA devices that are always a sound server
DEFAULT_GRAPH_RATE = 48_000  # PipeWire's default clock.rate, when the server cannot be asked
_DEFAULT_SINK = re.compile(r"Default Sink:\s*(\S+)")
_SAMPLE_SPEC = re.compile(r"Default Sample Specification:\s*\S+\s+\d+ch\s+(\d+)Hz")


class _Device(Protocol):  # audio/devices.py's OutputDevice (which imports this module)
    @property
    def name(self) -> str: ...

    @property
    def hostapi(self) -> str: ...

    @property
    def default_samplerate(self) -> float: ...


def through_sound_server(device: _Device, env: Mapping[str, str] | None = None) -> bool:
    """The device is ALSA's door to a sound server: `pipewire` or `pulse`, or `default` while a PipeWire or
    PulseAudio server runs for this user (its socket exists), whose ALSA plugin then is the default."""
    if "alsa" not in device.hostapi.lower():
        return False
    name = device.name.strip().lower()
    if name in SERVER_NAMES:
        return True
    if name != "default":
        return False
    env = os.environ if env is None else env
    if env.get("PULSE_SERVER") or env.get("PIPEWIRE_REMOTE"):
        return True
    runtime = env.get("XDG_RUNTIME_DIR")
    if not runtime:
        return False
    return any(Path(runtime, sock).exists() for sock in ("pipewire-0", "pulse/native"))


# PortAudio's DAC time through a sound server's ALSA plugin is the plugin's own account of its delay, and it is
# short: on PipeWire 0.3.65, against an independent recorder of the sink's monitor (a JACK client through pw-jack),
# the app's first audio and cancel → silence came 10.7 ms (blocks of 256 frames at 48 kHz) to 21.4 ms (512-1024)
# early, the same on every run (docs/measurements.md, "On PipeWire"). Its ALSA plugin does not count the frames
# it has already handed to the graph (newer PipeWire adds them: `transfered`). On PulseAudio 16.1 (its sink on
# JACK, recorded there) 0-7 ms early, varying run to run. So those figures are named estimated.
DAC_TIME_ESTIMATED = ("estimated: through a sound server the DAC time is its ALSA plugin's account of the delay, "
                      "measured 10-21 ms short on PipeWire 0.3.65, 0-7 ms on PulseAudio 16.1")


def dac_time_note(device: _Device) -> str | None:
    """Why the device's DAC times are estimated (a sound server behind ALSA), or None: the device's own clock."""
    return DAC_TIME_ESTIMATED if through_sound_server(device) else None


def graph_rate() -> int | None:
    """The rate the server's default sink runs at (`pactl list short sinks`), else the server's default sample
    specification (`pactl info`; PulseAudio, and PipeWire's pulse layer): a PulseAudio sink on JACK runs at JACK's
    rate whatever the default says. None when it cannot be asked."""
    try:
        out = subprocess.run(["pactl", "info"], capture_output=True, text=True, timeout=2, check=False).stdout
        sink = _DEFAULT_SINK.search(out)
        if sink is not None:
            sinks = subprocess.run(["pactl", "list", "short", "sinks"], capture_output=True, text=True, timeout=2,
                                   check=False).stdout
            for line in sinks.splitlines():
                cells = line.split("\t")
                rate = re.search(r"(\d+)Hz", line)
                if len(cells) > 1 and cells[1] == sink.group(1) and rate is not None:
                    return int(rate.group(1))
    except (OSError, subprocess.SubprocessError):
        return None
    found = _SAMPLE_SPEC.search(out)
    return int(found.group(1)) if found else None


def stream_rate(device: _Device) -> int:
    """The rate to open `device` at: a sound server's graph rate (one resampler: ours), else the device's own."""
    if through_sound_server(device):
        return graph_rate() or DEFAULT_GRAPH_RATE
    return int(device.default_samplerate)


def latency_request(device: _Device) -> str:
    """PortAudio's latency request: "high" (a buffer over the graph's quantum) for a sound server through ALSA,
    "low" otherwise (JACK's buffer is its period; hardware plays what it is given)."""
    return "high" if through_sound_server(device) else "low"
