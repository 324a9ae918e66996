"""The independent observer: a separate process, a JACK client of its own, records what leaves VoiceTrace's
output port, so the app's own TTFA and cancel→silence figures can be checked against what was actually sent to
the (virtual) sound card.

The recorder (`python -m voicetrace.bench.observer record ...`) knows nothing about requests: it connects an input
port to the app's output ports and writes every cycle's samples with the moment (perf_counter_ns, our clock) its
process callback began. When each cycle began is read from those stamps over the whole recording (`cycle_starts`),
and a frame becomes audible `latency` frames after its cycle starts — the playback latency JACK reports for the
app's port. JACK's own frames → time mapping (its DLL) is kept only as a diagnostic: JACK resets it at an xrun,
and for seconds after one it was off by up to 64 ms (docs/metrics.md, "The independent recorder"). The analysis
below then finds, for each request, the first sample of its audio and the first sample of silence after its
cancel, and compares them with the app's trace.
"""

from __future__ import annotations

import json
import platform
import re
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.report import distribution
from ..errors import UserError
from ..testing.jackclock import JackTime

# The app plays exact zeros between requests and its fade ends on zero, so the first non-zero sample is where a
# request's audio begins. (A −80 dBFS threshold moved onsets up to 8 ms late: models start at ~1e-7.)
AUDIBLE_THRESHOLD = 0.0
VOICED_THRESHOLD = 0.01  # -40 dBFS, the app's own "first voiced sample" level
_HEADER = struct.Struct("<IIq")  # JACK's frame time of the cycle, frames in it, perf_counter_ns at the callback
SETTLE_WINDOW_S = 1.0  # each side of a block, for the earliest callback: see cycle_starts
LEVEL_GAP_NS = 500_000  # see cycle_starts: a smaller move of the grid is read as up to this much off
LEVEL_BLOCKS = 8
# Through PipeWire: one channel of the sink's monitor (the app's mono stream is copied to every channel)
MONITOR_PORTS = "monitor_(FL|MONO)$"
JACK_SINK_PORTS = "(front-left|mono)$"  # PulseAudio's module-jack-sink: one channel of the app's mono
PW_JACK_LIB = f"/usr/lib/{platform.machine()}-linux-gnu/pipewire-0.3/jack"  # Debian's pipewire-jack


@dataclass
class Recording:
    samples: np.ndarray  # float32, every frame the app's ports carried while recording
    block_start: np.ndarray  # int64: index into samples where each JACK cycle's block starts
    block_t_ns: np.ndarray  # int64: when each block's first frame left the app, on perf_counter_ns
    rate: int
    latency_ns: int  # JACK's playback latency of the app's port: leaving the app → at the DAC
    lost_blocks: int
    clock_offset_ns: int  # perf_counter_ns − jack time at the start (diagnostic)
    clock_drift_ns: int  # the same offset at the end minus at the start (diagnostic)
    # Diagnostic: the largest difference between JACK's DLL (jack_frames_to_time) and `block_t_ns`, in ms.
    jack_dll_off_ms_max: float | None = None

    def dac_ns(self, index: int) -> int:
        """When the sample at `index` reaches the DAC, on the app's clock."""
        b = int(np.searchsorted(self.block_start, index, side="right")) - 1
        return int(self.block_t_ns[b] + (index - self.block_start[b]) * 1e9 / self.rate) + self.latency_ns

    def index_at(self, t_ns: int) -> int:
        """The first sample that reaches the DAC at or after `t_ns`."""
        b = int(np.searchsorted(self.block_t_ns + self.latency_ns, t_ns, side="right")) - 1
        if b < 0:
            return 0
        off = int(np.ceil((t_ns - self.latency_ns - self.block_t_ns[b]) * self.rate / 1e9))
        return min(int(self.block_start[b]) + max(off, 0), len(self.samples))

    @classmethod
    def load(cls, path: Path) -> Recording:
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            return cls(z["samples"], z["block_start"], z["block_t_ns"], meta["rate"], meta["latency_ns"],
                       meta["lost_blocks"], meta["clock_offset_ns"], meta["clock_drift_ns"],
                       meta.get("jack_dll_off_ms_max"))


def cycle_starts(block_start: np.ndarray, callback_ns: np.ndarray, rate: int,
                 window_s: float = SETTLE_WINDOW_S) -> np.ndarray:
    """When each recorded block's cycle began, on our clock, from when its process callback ran.

    A callback runs at its cycle's start plus a delay that is never negative and often long (the machine is
    busy, the GIL is held elsewhere). Over blocks that follow each other on the sample clock, `callback −
    position` (the phase) is the cycle grid's phase plus that delay. The grid can move — the dummy driver
    starts a new one after it fell behind (twice within 0.3 s, seen), the recorder misses a cycle — so near a
    block the phases form levels: runs of at least LEVEL_BLOCKS phases within LEVEL_GAP_NS of each other, the
    few long delays scattered above them. A block's cycle began at the lowest phase of the highest level not
    above its own phase (a block delayed by more than the step to the next grid is read on that grid)."""
    pos_ns = block_start.astype(np.float64) * 1e9 / rate
    phase = callback_ns.astype(np.float64) - pos_ns
    n = len(phase)
    step = float(np.median(np.diff(block_start))) if n > 1 else 256.0
    w = max(2, int(window_s * rate / max(step, 1.0)))
    grid = np.empty(n, np.float64)
    for k in range(n):
        near = np.sort(phase[max(0, k - w):k + w + 1])
        # levels: split the sorted phases where they are more than LEVEL_GAP_NS apart
        edges = np.flatnonzero(np.diff(near) > LEVEL_GAP_NS) + 1
        starts = np.concatenate([[0], edges])
        sizes = np.diff(np.concatenate([starts, [len(near)]]))
        lows = near[starts]
        ok = (sizes >= LEVEL_BLOCKS) & (lows <= phase[k])
        grid[k] = lows[ok][-1] if ok.any() else near[0]
    return np.round(grid + pos_ns).astype(np.int64)


def first_above(x: np.ndarray, lo: int, hi: int, threshold: float) -> int | None:
    """Index of the first sample in x[lo:hi] whose magnitude exceeds `threshold`."""
    hit = np.flatnonzero(np.abs(x[lo:hi]) > threshold)
    return lo + int(hit[0]) if hit.size else None


def silence_after(x: np.ndarray, lo: int, hi: int, threshold: float) -> int | None:
    """Index of the first sample of the silence that ends x[lo:hi]: one past its last sample above
    `threshold`, or `lo` when nothing in the window is (None for an empty window)."""
    if hi <= lo:
        return None
    hit = np.flatnonzero(np.abs(x[lo:hi]) > threshold)
    return lo + int(hit[-1]) + 1 if hit.size else lo


_DIFF_KEY = {"ttfa_audible": "ttfa_diff_ms", "ttfa_voiced": "voiced_diff_ms", "cancel_to_silence": "cancel_diff_ms"}


@dataclass(frozen=True)
class RunMarks:
    """What the app reported for one request, on its clock."""

    submit_ns: int
    ttfa_audible_ms: float | None
    ttfa_voiced_ms: float | None
    cancel_ns: int | None
    cancel_to_silence_ms: float | None


def check_runs(rec: Recording, marks: list[RunMarks]) -> list[dict[str, float | None]]:
    """For each request (requests run one after another), the observer's TTFA and cancel→silence, and their
    differences from the app's (observer − app, ms). A request's window ends where the next one is submitted."""
    out = []
    for k, m in enumerate(marks):
        lo = rec.index_at(m.submit_ns)
        hi = rec.index_at(marks[k + 1].submit_ns) if k + 1 < len(marks) else len(rec.samples)
        row: dict[str, float | None] = {"obs_ttfa_audible_ms": None, "obs_ttfa_voiced_ms": None,
                                        "obs_cancel_to_silence_ms": None, "ttfa_diff_ms": None,
                                        "voiced_diff_ms": None, "cancel_diff_ms": None}
        onset = first_above(rec.samples, lo, hi, AUDIBLE_THRESHOLD)
        voiced = first_above(rec.samples, lo, hi, VOICED_THRESHOLD)
        quiet = (silence_after(rec.samples, max(lo, rec.index_at(m.cancel_ns) - 1), hi, 0.0)
                 if m.cancel_ns is not None else None)
        for name, index, since, app_ms in (("ttfa_audible", onset, m.submit_ns, m.ttfa_audible_ms),
                                           ("ttfa_voiced", voiced, m.submit_ns, m.ttfa_voiced_ms),
                                           ("cancel_to_silence", quiet, m.cancel_ns, m.cancel_to_silence_ms)):
            if index is None or since is None:
                continue
            seen = round((rec.dac_ns(index) - since) / 1e6, 3)
            row[f"obs_{name}_ms"] = seen
            if app_ms is not None:
                row[_DIFF_KEY[name]] = round(seen - app_ms, 3)
        out.append(row)
    return out


def summarize_checks(rows: list[dict[str, float | None]], rec: Recording) -> dict[str, Any]:
    """`summary.observer`: the differences, observer − app. `_max` is the largest magnitude, with its sign."""

    def signed_max(key: str) -> float | None:
        xs = [r[key] for r in rows if r[key] is not None]
        return max(xs, key=abs) if xs else None  # type: ignore[arg-type]

    diffs = [abs(v) for r in rows for k in ("ttfa_diff_ms", "voiced_diff_ms", "cancel_diff_ms")
             if (v := r[k]) is not None]
    # Per run: its largest disagreement over the figures it has (a run is off if any of its figures is).
    worst = [max(abs(v) for k in ("ttfa_diff_ms", "voiced_diff_ms", "cancel_diff_ms") if (v := r[k]) is not None)
             for r in rows if any(r[k] is not None for k in ("ttfa_diff_ms", "voiced_diff_ms", "cancel_diff_ms"))]
    return {
        "abs_diff_ms_max": round(max(diffs), 3) if diffs else None,
        "runs_over_1ms": sum(w > 1.0 for w in worst),
        "runs_over_5ms": sum(w > 5.0 for w in worst),
        "runs_checked": len(worst),
        "ttfa_diff_ms_median": distribution(r["ttfa_diff_ms"] for r in rows)["median"],
        "ttfa_diff_ms_max": signed_max("ttfa_diff_ms"),
        "voiced_diff_ms_median": distribution(r["voiced_diff_ms"] for r in rows)["median"],
        "voiced_diff_ms_max": signed_max("voiced_diff_ms"),
        "cancel_diff_ms_median": distribution(r["cancel_diff_ms"] for r in rows)["median"],
        "cancel_diff_ms_max": signed_max("cancel_diff_ms"),
        "trials": sum(r["ttfa_diff_ms"] is not None for r in rows),
        "cancel_trials": sum(r["cancel_diff_ms"] is not None for r in rows),
        "lost_blocks": rec.lost_blocks,
        "clock_drift_ns": rec.clock_drift_ns,
        "latency_ms": round(rec.latency_ns / 1e6, 3),
        "jack_dll_off_ms_max": rec.jack_dll_off_ms_max,
    }


class Observer:
    """Runs the recorder process for the duration of a `with` block; `.recording` afterwards. `source`: the JACK
    client whose output ports it records, `ports`: a pattern their short names must match, `env`: added to the
    recorder's environment."""

    def __init__(self, out: Path, source: str = "PortAudio", ports: str = "", env: dict[str, str] | None = None
                 ) -> None:
        self.out = out
        self.source = source
        self.ports = ports
        self.env = env or {}
        self.recording: Recording | None = None
        self._proc: subprocess.Popen[str] | None = None

    @classmethod
    def for_player(cls, out: Path, player: Any) -> Observer:
        """The recorder for where `player` plays: its own JACK ports, or through a sound server what its default
        sink takes (`sound_server_monitor`)."""
        if getattr(player, "dac_time_note", None) is None:
            return cls(out)
        return cls(out, *sound_server_monitor())

    def __enter__(self) -> Observer:
        import os

        args = [sys.executable, "-m", "voicetrace.bench.observer", "record", "--source", self.source,
                "--out", str(self.out)] + (["--ports", self.ports] if self.ports else [])
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env={**os.environ, **self.env})
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()  # "ready" once its port is connected and recording
        if line != "ready":
            err = self._proc.stderr.read() if self._proc.stderr else ""
            self._proc.kill()
            raise UserError(f"the observer could not start: {(line + ' ' + err).strip()[-400:]}",
                            "--observe needs a running JACK server, the app playing to it, and `pip install "
                            "JACK-Client` (in the `bench` extra)")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write("stop\n")
        self._proc.stdin.flush()
        _, err = self._proc.communicate(timeout=60)
        if self._proc.returncode != 0:
            raise UserError(f"the observer failed: {err.strip()[-400:]}", "see the JACK server's log")
        self.recording = Recording.load(self.out)


def sound_server_monitor() -> tuple[str, str, dict[str, str]]:
    """(the JACK client to record, a pattern for its ports, the recorder's extra environment) for what the sound
    server's default sink takes. Through PipeWire a JACK client of PipeWire's own sees every node: the sink's
    monitor ports carry exactly what the sink took, in the cycle it took it. Through PulseAudio, only a sink that
    is itself a JACK client (`module-jack-sink`) can be recorded: its output ports, on that JACK server.
    UserError otherwise, or where PipeWire's JACK library is missing."""
    import os

    info = subprocess.run(["pactl", "info"], capture_output=True, text=True, timeout=10).stdout
    sink = re.search(r"Default Sink:\s*(\S+)", info)
    sinks = subprocess.run(["pactl", "list", "sinks"], capture_output=True, text=True, timeout=10).stdout
    block = next((b for b in sinks.split("\n\n")
                  if sink is not None and re.search(rf"Name:\s*{re.escape(sink[1])}\s*$", b, re.M)), "")
    if "on PipeWire" in info and sink is not None:
        if not Path(PW_JACK_LIB, "libjack.so.0").exists():
            raise UserError(f"PipeWire's JACK library is missing ({PW_JACK_LIB})", "apt install pipewire-jack")
        described = re.search(r"Description:\s*(.+)$", block, re.M)
        path = os.pathsep.join(p for p in (PW_JACK_LIB, os.environ.get("LD_LIBRARY_PATH", "")) if p)
        return described[1].strip() if described else sink[1], MONITOR_PORTS, {"LD_LIBRARY_PATH": path}
    client = re.search(r'jack\.client_name = "([^"]+)"', block)
    if client is None:
        raise UserError("--observe through a sound server needs PipeWire, or a PulseAudio sink on JACK "
                        "(module-jack-sink): nothing else has a side an independent recorder can read",
                        "run it on JACK, on PipeWire, or with PulseAudio's default sink on JACK")
    return client[1], JACK_SINK_PORTS, {}


# ---- the recorder process ---------------------------------------------------------------------------------

def take_block(port: Any, client: Any, rb: Any, header: bytearray, frames: int) -> bool:
    """The process callback's work: this cycle's samples into the ring buffer, after a header with when the
    callback began (our clock, read first) and JACK's frame time (a diagnostic). False when there was no room
    (the block is lost).

    Every call into libjack lets go of the GIL, and taking it back waits while the reader thread holds it (on a
    busy machine it can be descheduled holding it for tens of ms); meanwhile the app's next blocks overwrite
    the port buffer being recorded. So the samples are copied first (`bytes`: no call into C) and the frame
    time read straight after, its value taken before any wait. Stamping first and copying after `rb.write`
    of the header put a block's samples under an earlier cycle's time: a first sample two blocks early."""
    t_cb = time.perf_counter_ns()
    data = bytes(port.get_buffer())
    frame = client.last_frame_time
    if rb.write_space < len(header) + len(data):
        return False
    _HEADER.pack_into(header, 0, frame, frames, t_cb)
    rb.write(header)
    rb.write(data)
    return True


def _record(source: str, out: Path, ports: str = "") -> int:
    import threading

    import jack

    client = jack.Client("voicetrace-observer", no_start_server=True)
    port = client.inports.register("in")
    rate, block = client.samplerate, client.blocksize
    rb = jack.RingBuffer(1 << 22)  # ~40 s at 24 kHz: the reader drains it every few ms
    header = bytearray(_HEADER.size)
    lost = [0]

    @client.set_process_callback
    def process(frames: int) -> None:
        if not take_block(port, client, rb, header, frames):
            lost[0] += 1

    jt = JackTime(client)
    client.activate()
    sources = [p for p in client.get_ports(name_pattern=f"^{re.escape(source)}[^:]*:({ports})", is_output=True,
                                           is_audio=True)]
    if not sources:
        print(f"no output port of a JACK client named {source!r}", file=sys.stderr)
        return 1
    for p in sources:
        client.connect(p, port)
    latency = max(jt.playback_latency(p) for p in sources)
    offset0 = jt.offset_ns()
    chunks: list[np.ndarray] = []
    frames_at: list[int] = []
    dll_ns: list[int] = []
    cb_ns: list[int] = []
    stop = threading.Event()

    def wait_for_stop() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    print("ready", flush=True)
    pos = 0
    while True:
        stopping = stop.is_set()
        while rb.read_space >= _HEADER.size:
            frame, n, t_cb = _HEADER.unpack(bytes(rb.peek(_HEADER.size)))
            if rb.read_space < _HEADER.size + 4 * n:
                break
            rb.read_advance(_HEADER.size)
            chunks.append(np.frombuffer(bytes(rb.read(4 * n)), dtype=np.float32))
            frames_at.append(pos)
            dll_ns.append(jt.frames_to_us(frame) * 1000)  # JACK's DLL, taken while it is current: diagnostic
            cb_ns.append(t_cb)
            pos += n
        if stopping:
            break
        time.sleep(0.005)
    offset1 = jt.offset_ns()
    client.deactivate()
    client.close()
    starts = np.asarray(frames_at, dtype=np.int64)
    t_ns = cycle_starts(starts, np.asarray(cb_ns, dtype=np.int64), rate)
    dll = np.asarray(dll_ns, dtype=np.int64) + offset0  # JACK's clock on ours, by the offset at the start
    meta = {"rate": rate, "block": block, "latency_ns": int(latency * 1e9 / rate), "lost_blocks": lost[0],
            "clock_offset_ns": offset0, "clock_drift_ns": offset1 - offset0,
            "jack_dll_off_ms_max": round(float(np.abs(dll - t_ns).max()) / 1e6, 3) if len(t_ns) else None}
    np.savez(out, samples=np.concatenate(chunks) if chunks else np.zeros(0, np.float32), block_start=starts,
             block_t_ns=t_ns, block_callback_ns=np.asarray(cb_ns, dtype=np.int64), block_dll_ns=dll,
             meta=json.dumps(meta))
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m voicetrace.bench.observer")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record", help="record the app's JACK output ports until a line arrives on stdin")
    r.add_argument("--source", default="PortAudio", help="JACK client name whose output ports are recorded")
    r.add_argument("--out", required=True, type=Path, help=".npz file written at the end")
    r.add_argument("--ports", default="", help="a pattern the recorded ports' short names must begin with")
    args = ap.parse_args(argv)
    return _record(args.source, args.out, args.ports)


if __name__ == "__main__":
    sys.exit(main())
