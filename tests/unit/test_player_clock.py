"""The player's DAC times follow the stream's sample clock, not the moment a callback happened to run
(synthetic callbacks with PortAudio/JACK-like time info; no device)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import sounddevice as sd

from voicetrace.audio.devices import OutputDevice
from voicetrace.audio.player import Player
from voicetrace.contract import K_PLAY, K_STATUS

RATE, BLOCK = 24_000, 256
PERIOD_NS = BLOCK * 1e9 / RATE
LATENCY_S = 512 / RATE  # JACK's playback latency of the port (two periods)
T0_NS = 7_000_000_000


def run_callbacks(monkeypatch, late_ms: list[float], busy_ms: list[float] | None = None,
                  status: dict[int, int] | None = None, pump: list | None = None) -> tuple[Player, list]:
    """Callback k is called `late_ms[k]` after its cycle began and returns `busy_ms[k]` later; PortAudio's JACK
    host gives currentTime = jack_frame_time() at the call (so it is late by as much) and DAC = that + latency."""
    p = Player(OutputDevice(-1, "virtual", "test", 1, float(RATE), True), blocksize=BLOCK, samplerate=RATE,
               ring_seconds=2.0)
    p.ring.revive(1)
    p._stream = SimpleNamespace(close=lambda: None)  # running, as far as drain() is concerned
    p.ring.write(1, 0, np.full(BLOCK * len(late_ms), 0.25, np.float32), last=True)
    busy_ms = busy_ms or [0.0] * len(late_ms)
    out = np.zeros((BLOCK, 1), np.float32)
    for k, (late, busy) in enumerate(zip(late_ms, busy_ms, strict=True)):
        start = T0_NS + round(k * PERIOD_NS) + round(late * 1e6)
        cur = start / 1e9 - 3.0  # the stream clock: another origin than ours
        end = start + round(busy * 1e6)
        calls = iter([start])  # the callback's first read of the clock; every later one: when it returns
        monkeypatch.setattr(time, "perf_counter_ns", lambda c=calls, e=end: next(c, e))
        flags = sd.CallbackFlags((status or {}).get(k, 0))
        p._callback(out, BLOCK, SimpleNamespace(currentTime=cur, outputBufferDacTime=cur + LATENCY_S), flags)
        if pump is not None:  # the session's pump drains between callbacks: what it is handed after callback k
            pump.append(p.drain())
    assert p.callback_errors == 0
    events = [e for batch in pump or [] for e in batch] + p.drain(settled=False)  # the rest, as at close
    p.status_records = [e for e in events if e.kind == K_STATUS]  # type: ignore[attr-defined]
    plays = [e for e in events if e.kind == K_PLAY]
    assert [e.chunk_offset for e in plays] == [k * BLOCK for k in range(len(late_ms))]
    return p, plays


def on_time_dac(k: int) -> float:
    return T0_NS + k * PERIOD_NS + LATENCY_S * 1e9


def test_a_callback_that_runs_late_still_stamps_its_block_on_the_stream_clock(monkeypatch):
    """The two full runs: the flushing callback ran 8.8 / 10.0 ms late (within its period, so its block went
    out on time), and the app put silence that much later than the recorder."""
    _, plays = run_callbacks(monkeypatch, [0.05, 0.02, 0.08, 8.8, 0.04, 10.0, 0.03])
    for k, e in enumerate(plays):
        assert abs(e.dac_ns - on_time_dac(k)) < 0.1e6, (k, (e.dac_ns - on_time_dac(k)) / 1e6)


def test_a_callback_that_overruns_its_cycle_sends_its_block_a_period_later(monkeypatch):
    """Finished after its cycle was over: the block (and the stream after it) went out one period later."""
    late = [0.05, 0.02, 0.03, 9.0, 0.04, 0.02]
    busy = [0.1, 0.1, 0.1, 4.0, 0.1, 0.1]  # callback 3 returns 13 ms after its cycle began
    # after the overrun, JACK drops the missed cycle: the next callbacks are a period later than before
    late = late[:4] + [x + PERIOD_NS / 1e6 for x in late[4:]]
    _, plays = run_callbacks(monkeypatch, late, busy)
    for k, e in enumerate(plays):
        want = on_time_dac(k) + (PERIOD_NS if k >= 3 else 0)
        assert abs(e.dac_ns - want) < 0.1e6, (k, (e.dac_ns - want) / 1e6)


def test_an_xrun_flag_plays_its_block_and_keeps_its_records(monkeypatch):
    """JACK flags every client's next callback after any xrun in the graph (paOutputUnderflow |
    paInputOverflow). sounddevice's CallbackFlags has no __int__: the callback raised there, played a block of
    silence and logged nothing for it — a dropout that no figure counted."""
    late = [0.05, 0.02, 0.03, 0.04, 0.02, 0.03]
    p, plays = run_callbacks(monkeypatch, late, status={3: 0x4 | 0x2})  # paOutputUnderflow | paInputOverflow
    for k, e in enumerate(plays):
        assert abs(e.dac_ns - on_time_dac(k)) < 0.1e6, (k, (e.dac_ns - on_time_dac(k)) / 1e6)
    assert [(e.flags, e.dac_ns == plays[3].dac_ns) for e in p.status_records] == [(0x6, True)]


def test_an_xrun_callback_that_ran_late_does_not_stamp_its_block_late(monkeypatch):
    """After an xrun the stream clock is taken again from that callback, which is often itself late (the
    machine stalled): its block was stamped that much late until the next on-time callback showed the truth.
    Its records wait two callbacks and are handed out on the corrected clock (the recorder: 257 of 4 714
    xrun callbacks in one bench run were stamped > 1 ms late, up to 69 ms)."""
    late = [0.05, 0.02, 0.03, 8.0, 0.04, 0.02, 0.03, 0.05]
    pump: list = []
    _, plays = run_callbacks(monkeypatch, late, status={3: 0x6}, pump=pump)
    for k, e in enumerate(plays):
        assert abs(e.dac_ns - on_time_dac(k)) < 0.1e6, (k, (e.dac_ns - on_time_dac(k)) / 1e6)
    # handed out in order, each two callbacks after its own
    released = [[e.chunk_offset // BLOCK for e in batch if e.kind == K_PLAY] for batch in pump]
    assert released[:4] == [[], [], [0], [1]] and released[-1] == [len(late) - 3]
