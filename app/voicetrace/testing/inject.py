"""A JACK client that plays into VoiceTrace's microphone (its capture ports on a virtual JACK device): a
known speech recording from a known frame, and/or the app's own output as the microphone would hear it from the
speakers — one delayed tap at a speaker-like level, or through a room (`room`: an impulse response from
`testing.room`, convolved block by block) — and a steady background (a fan). The barge-in tests and
`bench --suite barge-in` use it."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .jackclock import JackTime


class Injector:
    def __init__(self, target: str = "PortAudio", echo_gain: float = 0.0, echo_delay_ms: float = 5.0,
                 room: np.ndarray | None = None, background: np.ndarray | None = None,
                 echo_from: str | None = None) -> None:
        """`room`: the loudspeaker → microphone impulse response at the JACK rate (its level is the speaker
        level; `echo_gain` is then unused); `background`: looped into the microphone all the time; `echo_from`: a
        pattern for the ports the speakers' sound is taken from (default: `target`'s outputs; through PipeWire the
        app's microphone and speakers are two nodes: a virtual source's input, the sink's monitor)."""
        import jack

        from .room import BlockConvolver

        self.client = jack.Client("voicetrace-inject", no_start_server=True)
        self.rate = self.client.samplerate
        self.out = self.client.outports.register("out")
        self.echo_in = self.client.inports.register("echo_in")
        self.echo_gain = echo_gain
        delay = int(echo_delay_ms * self.rate / 1000)
        self._delay = np.zeros(delay + 8192, np.float32)  # echo delay line, longer than any JACK period
        self._delay_len = delay
        self._clip: np.ndarray | None = None
        self._clip_start = 0  # frame time at which the clip's first sample is written
        self._lock = threading.Lock()
        self._room = BlockConvolver(room, self.client.blocksize) if room is not None else None
        self._background = background
        self._bg_pos = 0
        self.client.set_process_callback(self._process)
        self.jt = JackTime(self.client)
        self.client.activate()
        targets = self.client.get_ports(name_pattern=f"^{target}[^:]*:", is_input=True, is_audio=True)
        for p in targets:
            self.client.connect(self.out, p)
        # The app dates a captured frame to when it was at the ADC: its graph cycle minus this latency.
        self.capture_latency_ns = int(max((self.jt.capture_latency(p) for p in targets), default=0) * 1e9 / self.rate)
        for p in self.client.get_ports(name_pattern=echo_from or f"^{target}[^:]*:", is_output=True, is_audio=True):
            self.client.connect(p, self.echo_in)
        self.offset_ns = self.jt.offset_ns()

    def _process(self, frames: int) -> None:
        out = np.frombuffer(self.out.get_buffer(), dtype=np.float32)
        out.fill(0.0)
        if self._room is not None:
            x = np.frombuffer(self.echo_in.get_buffer(), dtype=np.float32)
            out += self._room.process(x)
        elif self.echo_gain:
            d, n = self._delay, self._delay_len
            x = np.frombuffer(self.echo_in.get_buffer(), dtype=np.float32)
            d[n:n + frames] = x
            out += self.echo_gain * d[:frames]
            d[:n] = d[frames:frames + n]  # slide the line by one period
        bg = self._background
        if bg is not None:
            idx = (self._bg_pos + np.arange(frames)) % len(bg)
            out += bg[idx]
            self._bg_pos = (self._bg_pos + frames) % len(bg)
        clip = self._clip
        if clip is not None:
            f0 = self.client.last_frame_time
            lo = f0 - self._clip_start
            if lo + frames > 0 and lo < len(clip):
                a, b = max(lo, 0), min(lo + frames, len(clip))
                out[a - lo:b - lo] += clip[a:b]
            elif lo >= len(clip):
                self._clip = None

    def play(self, clip: np.ndarray, after_s: float) -> int:
        """Schedule `clip` (at the JACK rate) to start `after_s` from now. Returns when its first sample was "at
        the ADC" on perf_counter_ns: the JACK cycle carrying it into the app's capture port, minus the capture
        latency JACK reports for that port (the app's microphone dates frames the same way)."""
        start = self.client.frame_time + int(after_s * self.rate)
        self._clip_start = start
        self._clip = np.asarray(clip, np.float32)
        return self.jt.frames_to_us(start) * 1000 + self.offset_ns - self.capture_latency_ns

    def set_room(self, room: np.ndarray | None) -> None:
        """From the next JACK period on, the speakers are heard through `room` (an impulse response at the JACK
        rate), or not at all (None: a headset plugged in)."""
        from .room import BlockConvolver

        self._room = BlockConvolver(room, self.client.blocksize) if room is not None else None

    @property
    def playing(self) -> bool:
        return self._clip is not None

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()

    def __enter__(self) -> Injector:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
