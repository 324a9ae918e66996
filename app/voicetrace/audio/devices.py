"""Output device listing and choice, by index or name substring (the sounddevice conventions)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..errors import DeviceError
from .graph import latency_request


@dataclass(frozen=True)
class OutputDevice:
    index: int
    name: str
    hostapi: str
    channels: int
    default_samplerate: float
    is_default: bool


def _sd() -> Any:
    # libjack would otherwise start a JACK server of its own when PortAudio probes for one: never do that
    # to a user's desktop.
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    try:
        import sounddevice
    except OSError as exc:  # PortAudio's shared library is missing
        raise DeviceError(f"PortAudio is not available ({exc})",
                          "install it: sudo apt-get install libportaudio2 (or run `make setup`)") from exc
    return sounddevice


# PortAudio's JACK back end asserts (aborting the process) when it is terminated after its server died, and
# sounddevice terminates PortAudio at exit. Once a JACK server is lost, PortAudio is never terminated again.
_jack_lost = False


def mark_lost(device: OutputDevice) -> None:
    global _jack_lost
    if "jack" in device.hostapi.lower():
        _jack_lost = True


def rescan_devices() -> bool:
    """Re-initialise PortAudio so devices plugged in since start appear (PortAudio lists them only when it
    initialises). Only while no stream is open; returns False where it is not safe (a lost JACK server)."""
    if _jack_lost:
        return False
    sd = _sd()
    sd._terminate()
    sd._initialize()
    return True


def exit_now_if_portaudio_unsafe(code: int) -> None:
    """Leave without PortAudio's exit-time terminate when that would abort (see `_jack_lost`)."""
    if _jack_lost:
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def list_output_devices() -> list[OutputDevice]:
    return _list_devices("output")


def list_input_devices() -> list[OutputDevice]:
    """Microphones, in the same record as outputs (`channels` = input channels)."""
    return _list_devices("input")


def _list_devices(kind: str) -> list[OutputDevice]:
    sd = _sd()
    try:
        devices = sd.query_devices()
        default = sd.default.device[1 if kind == "output" else 0]
        apis = sd.query_hostapis()
    except Exception as exc:  # PortAudio raises its own error type when it cannot enumerate
        raise DeviceError(f"cannot list audio devices ({exc})", "check that a sound server is running") from exc
    found = []
    for i, d in enumerate(devices):
        if d[f"max_{kind}_channels"] > 0:
            found.append(OutputDevice(i, d["name"], apis[d["hostapi"]]["name"], d[f"max_{kind}_channels"],
                                      float(d["default_samplerate"]), i == default))
    return found


def resolve_output_device(spec: str | int | None) -> OutputDevice:
    """`None` → the default output; an int (or digits) → that index; text → the one device whose name
    contains it (case-insensitive)."""
    devices = list_output_devices()
    if not devices:
        asked = f" (asked for {spec!r})" if spec not in (None, "") else ""
        raise DeviceError(f"no audio output device found{asked}",
                          "connect one, start a sound server (PipeWire/PulseAudio/JACK), or use --wav OUT.wav")
    return _choose(devices, spec, "output")


def resolve_input_device(spec: str | int | None) -> OutputDevice:
    """The microphone, chosen by the same conventions as the output."""
    devices = list_input_devices()
    if not devices:
        asked = f" (asked for {spec!r})" if spec not in (None, "") else ""
        raise DeviceError(f"no microphone (audio input device) found{asked}",
                          "connect one or start a sound server; barge-in by voice needs an input")
    return _choose(devices, spec, "input")


def _choose(devices: list[OutputDevice], spec: str | int | None, kind: str) -> OutputDevice:
    names = ", ".join(f"{d.index}: {d.name}" for d in devices)
    if spec is None or spec == "":
        for d in devices:
            if d.is_default:
                return d
        return devices[0]
    if isinstance(spec, int) or str(spec).strip().isdigit():
        idx = int(spec)
        for d in devices:
            if d.index == idx:
                return d
        raise DeviceError(f"no {kind} device with index {idx}", f"choose one of: {names}")
    matches = [d for d in devices if str(spec).lower() in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise DeviceError(f"no {kind} device matches {spec!r}", f"choose one of: {names}")
    raise DeviceError(f"{spec!r} matches several devices ({', '.join(d.name for d in matches)})",
                      "give more of the name or the index")


def open_stream(kind: str, device: OutputDevice, rate: int, blocksize: int, callback: Any) -> Any:
    """A started mono float32 PortAudio stream (`kind` output or input), or DeviceError. An output into a sound
    server through ALSA gets a buffer over the graph's quantum (audio/graph.py); everything else low latency."""
    sd = _sd()
    cls = sd.OutputStream if kind == "output" else sd.InputStream
    latency = latency_request(device) if kind == "output" else "low"
    stream = None
    try:
        stream = cls(samplerate=rate, blocksize=blocksize, channels=1, dtype="float32", device=device.index,
                     latency=latency, callback=callback)
        stream.start()
        return stream
    except Exception as exc:
        if stream is not None:
            stream.close()
        what, flag = ("output device", "--device") if kind == "output" else ("microphone", "--input-device")
        raise DeviceError(f"cannot open {what} {device.name!r} at {rate} Hz ({exc})",
                          f"pick another with {flag} (see `voicetrace devices`)") from exc
