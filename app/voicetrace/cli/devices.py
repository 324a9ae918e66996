"""`voicetrace devices`: the audio outputs and inputs, as `--device` and `--input-device` take them."""

from __future__ import annotations

import argparse
import sys


def cmd_devices(args: argparse.Namespace) -> int:
    from ..audio.devices import list_input_devices, list_output_devices

    devices = list_output_devices()
    if not devices:
        print("no audio output devices", file=sys.stderr)
        return 1
    inputs = list_input_devices()
    for k, d in enumerate(devices + inputs):
        if k == len(devices):
            print("inputs (--input-device, for barge-in by voice):")
        mark = "*" if d.is_default else " "
        print(f"{mark} {d.index:3d}  {d.name}  ({d.hostapi}, {d.channels} ch, {d.default_samplerate:.0f} Hz)")
    return 0
