"""How a device is opened: a sound server through ALSA at its graph's rate with a buffer over the graph's quantum
(a `latency="low"` stream got 0 callbacks once a JACK client ran a PipeWire graph at 1024 frames); JACK and
hardware as before (docs/measurements.md, "What stalls on PipeWire, narrowed")."""

from __future__ import annotations

import subprocess

import pytest

from voicetrace.audio import graph
from voicetrace.audio.devices import OutputDevice


def _dev(name: str, hostapi: str = "ALSA", rate: float = 44_100.0) -> OutputDevice:
    return OutputDevice(0, name, hostapi, 2, rate, True)


def test_pipewire_and_pulse_devices_are_sound_servers_and_jack_and_hardware_are_not(tmp_path):
    no_server = {"XDG_RUNTIME_DIR": str(tmp_path)}
    assert graph.through_sound_server(_dev("pipewire"), no_server)
    assert graph.through_sound_server(_dev("pulse"), no_server)
    assert not graph.through_sound_server(_dev("default"), no_server)  # plain ALSA: no server runs
    assert not graph.through_sound_server(_dev("system", "JACK Audio Connection Kit"), no_server)
    assert not graph.through_sound_server(_dev("HDA Intel PCH: ALC892 Analog (hw:0,0)"), no_server)
    (tmp_path / "pipewire-0").touch()  # a PipeWire server runs for this user: ALSA's default is its door
    assert graph.through_sound_server(_dev("default"), {"XDG_RUNTIME_DIR": str(tmp_path)})
    assert not graph.through_sound_server(_dev("default", "JACK Audio Connection Kit"),
                                          {"XDG_RUNTIME_DIR": str(tmp_path)})


def test_a_sound_server_is_opened_at_its_graph_rate_with_a_buffer_over_its_quantum(monkeypatch, tmp_path):
    (tmp_path / "pipewire-0").touch()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    info = "Server Name: PulseAudio (on PipeWire 0.3.65)\nDefault Sample Specification: float32le 2ch 48000Hz\n"
    monkeypatch.setattr(graph.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=info, stderr=""))
    pw = _dev("default")  # PortAudio says 44 100 for ALSA's default whatever the graph runs at
    assert graph.stream_rate(pw) == 48_000 and graph.latency_request(pw) == "high"
    jack = _dev("system", "JACK Audio Connection Kit", 24_000.0)
    assert graph.stream_rate(jack) == 24_000 and graph.latency_request(jack) == "low"


@pytest.mark.parametrize("failure", [FileNotFoundError("pactl"), subprocess.TimeoutExpired("pactl", 2)])
def test_a_server_that_cannot_be_asked_is_opened_at_pipewires_default_rate(monkeypatch, failure):
    def run(*a, **k):
        raise failure

    monkeypatch.setattr(graph.subprocess, "run", run)
    assert graph.graph_rate() is None
    assert graph.stream_rate(_dev("pipewire")) == graph.DEFAULT_GRAPH_RATE


def test_dac_times_through_a_sound_server_are_named_estimated_and_jacks_are_not():
    assert "estimated" in (graph.dac_time_note(_dev("pipewire")) or "")
    assert graph.dac_time_note(_dev("system", hostapi="JACK Audio Connection Kit")) is None
    assert graph.dac_time_note(_dev("hw:0,0")) is None



def test_a_sound_servers_default_sink_rate_comes_before_its_default_specification(monkeypatch, tmp_path):
    """A PulseAudio sink on JACK runs at JACK's rate while `pactl info` says 44 100 by default."""
    (tmp_path / "pulse").mkdir()
    (tmp_path / "pulse" / "native").touch()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    answers = {"info": "Server Name: pulseaudio\nDefault Sample Specification: s16le 2ch 44100Hz\n"
                       "Default Sink: speakers\n",
               "list": "0\tother\tmodule-null-sink.c\ts16le 2ch 44100Hz\tIDLE\n"
                       "1\tspeakers\tmodule-jack-sink.c\tfloat32le 2ch 24000Hz\tIDLE\n"}
    monkeypatch.setattr(graph.subprocess, "run", lambda args, **k: subprocess.CompletedProcess(
        args, 0, stdout=answers[args[1]], stderr=""))
    assert graph.stream_rate(_dev("default")) == 24_000
