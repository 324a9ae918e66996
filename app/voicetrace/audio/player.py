"""The player: one always-running PortAudio output stream fed from the tagged ring — the audio sink that
plays (`core.sink.AudioSink`).

The callback is the only place where first audio, chunk playback, underruns and the cancel fade are
observed, so it logs them, with PortAudio's DAC time converted to our clock, into preallocated lists.
`drain()` (called by the session's pump thread) turns them into records; the callback itself never
allocates a record, logs text or waits on a lock.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import numpy as np

from ..contract import K_END, K_FLUSH, K_PAUSE, K_PLAY, K_RESUME, K_STATUS, K_UNDERRUN, AudioArray, PlaybackEvent
from .devices import OutputDevice, mark_lost, open_stream, resolve_output_device
from .graph import dac_time_note, stream_rate
from .ring import TaggedRing

_EVENT_SLOTS = 1 << 15
# Callbacks after its own before a record is handed out (see `Player.drain`).
SETTLE_CALLBACKS = 2
SCOPE_S = 2.0
CLOSE_STALLED_S = 5.0  # how long a new stream waits for a given-up one to close (see `abandon`)


def _flag_bits(status: Any) -> int:
    """PortAudio's status flags as an int: sounddevice's `CallbackFlags` has no `__int__` (`int(status)` raised
    in the callback on every xrun, which then played a block of silence and skipped its records)."""
    return int(getattr(status, "_flags", status))


class Player:
    plays = True

    def __init__(self, device: OutputDevice | str | int | None = None, blocksize: int = 256,
                 ring_seconds: float = 120.0, fade_ms: float = 5.0, samplerate: int | None = None) -> None:
        """`device`: index or name substring (None: the system's default), or a device already resolved."""
        self.device = device if isinstance(device, OutputDevice) else resolve_output_device(device)
        # A sound server's graph rate, not the 44 100 PortAudio reports for ALSA's `default` (audio/graph.py).
        self.rate = int(samplerate or stream_rate(self.device))
        self.dac_time_note = dac_time_note(self.device)  # None: the DAC times are the device's own
        self.blocksize = blocksize
        self.ring = TaggedRing(int(ring_seconds * self.rate), fade_frames=int(fade_ms * self.rate / 1000))
        n = _EVENT_SLOTS
        self._ev_kind = [0] * n
        self._ev_tag = [0] * n
        self._ev_t = [0] * n
        self._ev_dac = [0] * n
        self._ev_a = [0] * n
        self._ev_b = [0] * n
        self._ev_c = [0] * n
        self._ev_f = [False] * n
        # The anchor each record was stamped with and the callback that stamped it: a record is handed out
        # only once SETTLE_CALLBACKS later callbacks have run, stamped with the best anchor known by then.
        self._ev_anchor = [0] * n
        self._ev_cb = [0] * n
        self._cb_count = 0
        self._ev_w = 0
        self._ev_r = 0
        self.events_lost = 0
        self.callback_errors = 0
        self._drop_req = 0
        self._drop_seen = 0
        self._cb_t = 0
        self._started_ns = 0
        self._cb_dac = 0
        # The stream's sample clock: frames handed to the device so far, and the DAC time of frame 0 on our
        # clock, taken from the least-late callback (a callback that runs late sends its block on time all
        # the same; see _callback).
        self._pos = 0
        self._anchor: int | None = None
        self._capture: AudioArray | None = None
        self._capture_pos = 0
        # What was sent to the device, last SCOPE_S seconds, for the window's level meter and waveform.
        self.scope = np.zeros(int(SCOPE_S * self.rate), dtype=np.float32)
        self.scope_pos = 0  # total frames ever written to the scope (index = pos % len)
        # The last callback's first frame: its scope position and DAC time (maps scope frames to our clock for
        # the barge-in gate's reference of what the speakers played).
        self._scope_mark_pos = 0
        self._scope_mark_dac = 0
        self.volume = 1.0  # applied in the callback, after the ring: it scales what the device plays
        # Pause: asked for by `pause()` (any thread), taken by the callback, which fades out over `_fade`
        # frames, then plays silence without reading the ring (what it holds waits), and fades back in.
        self._pause_req = False
        self._paused = False
        self._fade = max(1, min(blocksize, int(fade_ms * self.rate / 1000)))
        ramp = np.linspace(0.0, 1.0, self._fade + 2, dtype=np.float32)[1:-1]
        self._ramp_in = ramp
        self._ramp_out = ramp[::-1].copy()
        self._stream: Any = None
        self._standby = False  # closed by standby(), reopened by the next request
        self._closing_stalled: threading.Thread | None = None  # closes a stream given up by abandon()
        self._lock = threading.Lock()  # guards start/close only, never taken by the callback
        self._ns_per_frame = 1e9 / self.rate
        # How fast the anchor may rise on its own: follows a device clock up to 100 ppm slower than ours.
        self._leak_ns = int(blocksize * self._ns_per_frame * 1e-4)

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        closing = self._closing_stalled
        if closing is not None:
            # PortAudio opens no new stream while the given-up one is still closing (on JACK: "Insufficient
            # memory"); a close that blocks for good leaves the open to fail with its own message.
            closing.join(CLOSE_STALLED_S)
        with self._lock:
            if self._stream is None:
                self._started_ns = time.perf_counter_ns()
                self._anchor, self._pos = None, 0  # a new stream: a new sample clock
                self._stream = self._open_stream()
                # Opening can take a while (a sound server): the watchdog counts from when it runs.
                self._started_ns = time.perf_counter_ns()
                self._standby = False

    def standby(self) -> None:
        """Close the stream while nothing plays (an open stream costs a callback every block: about 1 % of a
        core idle); the next request's `open_tag` or `write` opens it again, on that thread. What the ring
        holds is kept. The first request after a standby waits for the stream to start: its TTFA says so."""
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
                self._standby = True

    def abandon(self) -> None:
        """Give up a stream that stopped calling back (core/watchdog.py): the next request's `open_tag` or
        `write` opens a new one, as after `standby`. The old one is closed on a thread of its own: closing a
        stream whose server stopped can block for seconds, or for ever (docs/architecture.md, stop order)."""
        with self._lock:
            stream, self._stream = self._stream, None
            if stream is None:
                return
            self._standby = True
        mark_lost(self.device)  # a JACK server that stopped serving: PortAudio's exit-time terminate would abort

        def close() -> None:
            with contextlib.suppress(Exception):
                stream.close()

        self._closing_stalled = threading.Thread(target=close, name="player-close-stalled", daemon=True)
        self._closing_stalled.start()

    @property
    def in_standby(self) -> bool:
        return self._standby

    def _open_stream(self) -> Any:
        """The running stream that calls `_callback` (PortAudio's; a test device may bring its own clock)."""
        return open_stream("output", self.device, self.rate, self.blocksize, self._callback)

    def close(self) -> None:
        with self._lock:
            if self._stream is not None:
                self._stream.close()  # close() stops the stream first
                self._stream = None

    @property
    def device_name(self) -> str | None:
        return self.device.name

    @property
    def running(self) -> bool:
        return self._stream is not None

    def seconds_since_callback(self) -> float:
        """How long ago the last callback ran (or the stream started): a stream whose device vanished
        stops calling back, which is how an unplugged device shows."""
        t = max(self._cb_t, self._started_ns)
        return (time.perf_counter_ns() - t) / 1e9

    def recent_output(self, seconds: float) -> AudioArray:
        """A copy of the last `seconds` sent to the device (read outside the callback; a torn block at
        the edge only blurs a meter)."""
        n = min(int(seconds * self.rate), len(self.scope), self.scope_pos)
        end = self.scope_pos % len(self.scope)
        if n <= end:
            return self.scope[end - n:end].copy()
        return np.concatenate([self.scope[len(self.scope) - (n - end):], self.scope[:end]])

    def sent_at(self, t_from_ns: int, n: int) -> AudioArray | None:
        """The `n` frames that reached the DAC from `t_from_ns` on (our clock), from the scope; None when that
        is not all in the scope yet or any more. Read outside the callback: a torn mark shifts it by a block."""
        return self.sent_frames(self.scope_pos_at(t_from_ns), n)

    def scope_pos_at(self, t_ns: int) -> int:
        """The scope position of the frame that reached the DAC at `t_ns` (our clock)."""
        return self._scope_mark_pos + round((t_ns - self._scope_mark_dac) * self.rate / 1e9)

    def sent_frames(self, start: int, n: int) -> AudioArray | None:
        """`n` frames of the scope from position `start` (what was sent, frame after frame on the DAC clock:
        the echo canceller's far end); None when they are not all in the scope yet, or any more."""
        end = start + n
        if self._scope_mark_dac == 0 or start < self.scope_pos - len(self.scope) + self.blocksize \
                or end > self.scope_pos:
            return None
        idx = np.arange(start, end) % len(self.scope)
        return self.scope[idx]

    def sent_until_ns(self) -> int:
        """The DAC time up to which the scope holds what was sent (0 before the first callback)."""
        mark_pos, mark_dac = self._scope_mark_pos, self._scope_mark_dac
        return mark_dac + int((self.scope_pos - mark_pos) * 1e9 / self.rate) if mark_dac else 0

    @property
    def output_latency_s(self) -> float:
        return float(self._stream.latency) if self._stream is not None else 0.0

    # ---- writer side -------------------------------------------------------------------------------
    def write(self, tag: int, chunk_index: int, audio: AudioArray, last: bool,
              should_stop: threading.Event | None = None) -> int | None:
        """Queue a chunk (device rate). Blocks, politely, while the ring is full. Returns when the chunk
        became playable (perf_counter_ns, stamped just before its first samples were published, so no
        callback can play it earlier), or None if the request was cancelled."""
        if self._standby:
            self.start()  # DeviceError: the request fails with it
        done = 0
        t_ready: int | None = None
        while True:
            if self.ring.is_dead(tag) or (should_stop is not None and should_stop.is_set()):
                return None
            t = time.perf_counter_ns()
            n = self.ring.write(tag, chunk_index, audio[done:], chunk_offset=done, last=last)
            if t_ready is None and (n > 0 or len(audio) == 0):
                t_ready = t
            done += n
            if done >= len(audio) and t_ready is not None and (n > 0 or len(audio) == 0 or not last):
                return t_ready
            # Full: wait roughly for the frames we still need to be played.
            time.sleep(min(0.02, max(0.002, (len(audio) - done) / self.rate / 4)))

    def open_tag(self, tag: int) -> None:
        self.ring.revive(tag)
        if self._standby:  # wake the stream now, off the caller's thread (it may be the UI's)
            threading.Thread(target=self.wake, name="player-wake", daemon=True).start()

    def wake(self) -> None:
        """Reopen a stream closed by standby (blocking: PortAudio); an error is left to the next write."""
        with contextlib.suppress(Exception):  # the request's own write() tries again and fails it with the message
            self.start()

    def drop(self, tag: int) -> int:
        """Drop `tag` from the ring (a cancel); the next callback fades it out and reports K_FLUSH with this
        sequence number."""
        self.ring.kill(tag)
        self._drop_req += 1
        return self._drop_req

    def queued_s(self) -> float:
        return self.ring.level_frames() / self.rate

    # ---- pause -------------------------------------------------------------------------------------
    def pause(self) -> None:
        """Hold playback: the next callback fades out and plays silence from then on; the ring keeps what it
        holds (a cancel meanwhile drops it without a sound). Logged as K_PAUSE at the first silent frame."""
        self._pause_req = True

    def resume(self) -> None:
        """Play on from where it paused (faded in); K_RESUME at the first frame played again."""
        self._pause_req = False

    @property
    def paused(self) -> bool:
        """Asked to pause (the callback takes it at its next block)."""
        return self._pause_req

    # ---- capture (what was sent to the device, for --wav) ---------------------------------------------
    def start_capture(self, seconds: float) -> None:
        self._capture_pos = 0
        self._capture = np.zeros(int(seconds * self.rate), dtype=np.float32)

    def stop_capture(self) -> AudioArray:
        buf, self._capture = self._capture, None
        return np.zeros(0, np.float32) if buf is None else buf[:self._capture_pos].copy()

    # ---- the callback ------------------------------------------------------------------------------
    def _log(self, kind: int, tag: int, dac: int, a: int = 0, b: int = 0, c: int = 0, f: bool = False) -> None:
        w = self._ev_w
        if w - self._ev_r >= _EVENT_SLOTS:
            self.events_lost += 1
            return
        i = w % _EVENT_SLOTS
        self._ev_kind[i] = kind
        self._ev_tag[i] = tag
        self._ev_t[i] = self._cb_t
        self._ev_dac[i] = dac
        self._ev_a[i] = a
        self._ev_b[i] = b
        self._ev_c[i] = c
        self._ev_f[i] = f
        self._ev_anchor[i] = self._anchor or 0
        self._ev_cb[i] = self._cb_count
        self._ev_w = w + 1

    def _on_piece(self, tag: int, chunk: int, chunk_off: int, out_off: int, n: int, faded: bool) -> None:
        self._log(K_PLAY, tag, self._cb_dac + int(out_off * self._ns_per_frame), chunk, chunk_off, n, faded)

    def _on_underrun(self, tag: int, missing: int, out_off: int) -> None:
        self._log(K_UNDERRUN, tag, self._cb_dac + int(out_off * self._ns_per_frame), missing)

    def _on_end(self, tag: int) -> None:
        self._log(K_END, tag, self._cb_dac)

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        try:
            now = time.perf_counter_ns()
            self._cb_t = now
            self._cb_count += 1
            # PortAudio's stream clock → ours (docs/metrics.md, "One clock"). `now + (dac - cur)` is when this
            # callback *ran* plus the output latency: PortAudio's JACK host reads jack_frame_time() (the time of the
            # call, not of the cycle) for currentTime, and the cffi wrapper may still wait for the GIL, so a callback
            # that runs late would stamp its block late (the recorder: 8.8 and 10.0 ms on two cancels). A block goes
            # out on the stream's sample clock whenever the callback ran, as long as it finished in time: its DAC time
            # is the anchor (frame 0, from the least-late callback) plus the frames sent before it.
            dac = time_info.outputBufferDacTime
            cur = time_info.currentTime
            latency = int((dac - cur) * 1e9) if dac > 0 and cur > 0 else 0
            before = int(self._pos * self._ns_per_frame)
            seen = now + latency - before
            a = self._anchor
            # An xrun (status) may have moved the stream on: start again from this callback.
            a = seen if a is None or status else min(a + self._leak_ns, seen)
            self._anchor = a
            self._cb_dac = a + before
            self._pos += frames
            first_ev = self._ev_w
            if status:
                self._log(K_STATUS, -1, self._cb_dac, _flag_bits(status))
            if self._drop_seen != self._drop_req:
                self._drop_seen = self._drop_req
                self._log(K_FLUSH, -1, self._cb_dac, self._drop_seen)
            out = outdata[:, 0]
            if self._pause_req or self._paused:
                self._read_pausing(out, frames)
            else:
                self.ring.read(out, self._on_piece, self._on_underrun, self._on_end)
            if self.volume != 1.0:
                out *= self.volume  # in place: no allocation
            sc = self.scope
            self._scope_mark_dac = self._cb_dac
            self._scope_mark_pos = self.scope_pos
            p = self.scope_pos % len(sc)
            n = min(frames, len(sc) - p)
            sc[p:p + n] = out[:n]
            if n < frames:
                sc[:frames - n] = out[n:frames]
            self.scope_pos += frames
            cap = self._capture
            if cap is not None:
                p = self._capture_pos
                n = min(frames, len(cap) - p)
                if n > 0:
                    cap[p:p + n] = out[:n]
                    self._capture_pos = p + n
            # Finished after its cycle was over (an overrun): the block went out that many periods late, and
            # the stream with it.
            period = frames * self._ns_per_frame
            late = int((time.perf_counter_ns() + latency - self._cb_dac) // period)
            if late > 0:
                shift = int(late * period)
                for i in range(first_ev, self._ev_w):
                    self._ev_dac[i % _EVENT_SLOTS] += shift
                    self._ev_anchor[i % _EVENT_SLOTS] += shift
                self._scope_mark_dac += shift
                self._anchor = a + shift
        except Exception:
            outdata.fill(0)  # never let an error escape into PortAudio; counted for diagnostics
            self.callback_errors += 1

    def _read_pausing(self, out: AudioArray, frames: int) -> None:
        """A block while a pause starts, holds or ends (the callback's part of `pause`)."""
        k = min(self._fade, frames)
        if self._pause_req and not self._paused:  # fade out what plays over k frames, then silence
            self.ring.read(out[:k], self._on_piece, self._on_underrun, self._on_end)
            out[:k] *= self._ramp_out[:k]
            out[k:] = 0.0
            self.ring.mark_silent()
            self._paused = True
            self._log(K_PAUSE, -1, self._cb_dac + int(k * self._ns_per_frame))
        elif self._pause_req:  # held: silence, the ring untouched
            out[:] = 0.0
        else:  # resumed: play on, faded in
            self._paused = False
            self._log(K_RESUME, -1, self._cb_dac)
            self.ring.read(out, self._on_piece, self._on_underrun, self._on_end)
            out[:k] *= self._ramp_in[:k]

    def drain(self, settled: bool = True) -> list[PlaybackEvent]:
        """The callback's records, oldest first. A record waits until SETTLE_CALLBACKS more callbacks have
        run (about 20 ms; all at once when the stream is closed, or with `settled=False`): the anchor it was
        stamped with may have come from a late callback — after an xrun the stream clock is taken again from
        that one callback — and the next on-time callback shows by how much. Such a record is handed out on
        the lower anchor (the independent recorder found TTFA and cancel stamped up to 69 ms late there)."""
        out = []
        r, w = self._ev_r, self._ev_w
        done_cb = self._cb_count - SETTLE_CALLBACKS if settled and self._stream is not None else None
        anchor = self._anchor or 0
        while r < w:
            i = r % _EVENT_SLOTS
            if done_cb is not None and self._ev_cb[i] > done_cb:
                break
            dac = self._ev_dac[i] - max(0, self._ev_anchor[i] - anchor) if anchor else self._ev_dac[i]
            kind, tag, t_cb, a = self._ev_kind[i], self._ev_tag[i], self._ev_t[i], self._ev_a[i]
            # the slot `a` holds what the record's kind says
            if kind == K_PLAY:
                ev = PlaybackEvent(kind, tag, t_cb, dac, a, self._ev_b[i], self._ev_c[i], self._ev_f[i])
            elif kind == K_FLUSH:
                ev = PlaybackEvent(kind, tag, t_cb, dac, drop_seq=a)
            elif kind == K_UNDERRUN:
                ev = PlaybackEvent(kind, tag, t_cb, dac, missing=a)
            elif kind == K_STATUS:
                ev = PlaybackEvent(kind, tag, t_cb, dac, flags=a)
            else:
                ev = PlaybackEvent(kind, tag, t_cb, dac)
            out.append(ev)
            r += 1
        self._ev_r = r
        return out
