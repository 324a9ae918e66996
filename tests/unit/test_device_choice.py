"""Choosing a device by name or index, and the errors when none fits (no sound server needed)."""

from __future__ import annotations

import pytest

from voicetrace.audio import devices
from voicetrace.audio.devices import OutputDevice
from voicetrace.errors import DeviceError

_JACK = OutputDevice(3, "system", "JACK Audio Connection Kit", 2, 24000.0, True)
_HDMI = OutputDevice(5, "HDMI 0", "ALSA", 2, 48000.0, False)


def test_the_device_asked_for_is_named_even_when_there_is_no_device_at_all(monkeypatch):
    monkeypatch.setattr(devices, "list_output_devices", lambda: [])
    with pytest.raises(DeviceError, match=r"no audio output device found \(asked for 'nothing'\)"):
        devices.resolve_output_device("nothing")
    with pytest.raises(DeviceError) as err:
        devices.resolve_output_device(None)
    assert err.value.what == "no audio output device found"


def test_a_name_index_or_default_chooses_one_device_and_a_miss_lists_the_choices(monkeypatch):
    monkeypatch.setattr(devices, "list_output_devices", lambda: [_JACK, _HDMI])
    assert devices.resolve_output_device(None) == _JACK
    assert devices.resolve_output_device("hdmi") == _HDMI
    assert devices.resolve_output_device("5") == _HDMI
    with pytest.raises(DeviceError, match="no output device matches 'usb'") as err:
        devices.resolve_output_device("usb")
    assert "3: system" in str(err.value.fix) and "5: HDMI 0" in str(err.value.fix)
