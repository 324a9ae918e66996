"""The observer's analysis on synthetic recordings whose onsets and silences are known to the sample."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from voicetrace.bench.observer import (
    Recording,
    RunMarks,
    check_runs,
    cycle_starts,
    first_above,
    silence_after,
    summarize_checks,
)

RATE = 24_000
BLOCK = 256
NS = 1e9 / RATE


def recording(samples: np.ndarray, t0_ns: int = 5_000_000_000, latency_ns: int = 21_333_333,
              skip_blocks: tuple[int, ...] = ()) -> Recording:
    """Blocks of 256 frames, one every 256 frames of time, except that `skip_blocks` were lost (a gap in time)."""
    starts, times, t = [], [], t0_ns
    for b, start in enumerate(range(0, len(samples), BLOCK)):
        if b in skip_blocks:
            t += int(BLOCK * NS)
        starts.append(start)
        times.append(t)
        t += int(BLOCK * NS)
    return Recording(samples.astype(np.float32), np.asarray(starts, np.int64), np.asarray(times, np.int64), RATE,
                     latency_ns, 0, 0, 0)


def burst(n_total: int, spans: list[tuple[int, int]], level: float = 0.3) -> np.ndarray:
    x = np.zeros(n_total, np.float32)
    rng = np.random.default_rng(1)
    for a, b in spans:
        x[a:b] = level * rng.uniform(-1, 1, b - a).astype(np.float32)
        x[a:b][x[a:b] == 0] = 1e-3  # no accidental exact zeros inside a burst
    return x


def test_first_above_and_silence_after_find_the_exact_samples() -> None:
    x = burst(10_000, [(1234, 5678)])
    assert first_above(x, 0, len(x), 0.0) == 1234
    assert first_above(x, 2000, len(x), 0.0) == 2000
    assert first_above(x, 6000, len(x), 0.0) is None
    assert silence_after(x, 0, len(x), 0.0) == 5678
    assert silence_after(x, 7000, 9000, 0.0) == 7000  # nothing there: silence from the window's start
    assert silence_after(x, 9000, 9000, 0.0) is None


def test_dac_time_and_index_are_inverse_across_a_lost_block() -> None:
    rec = recording(np.zeros(BLOCK * 10, np.float32), skip_blocks=(4,))
    for i in (0, 1, 255, 256, 1000, 1024, 1025, 2559):
        assert rec.index_at(rec.dac_ns(i)) == i
    # the lost block is a gap in time: sample 1024 comes two blocks' time after sample 768
    assert rec.dac_ns(1024) - rec.dac_ns(768) == 2 * int(BLOCK * NS)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(200, 3000), st.integers(300, 6000), st.booleans()), min_size=1, max_size=5),
       st.integers(-2000, 2000))
def test_known_onsets_and_cancels_are_recovered(requests: list[tuple[int, int, bool]], app_error_us: int) -> None:
    """Requests placed at known frames; the app's reports are off by `app_error_us`: the check must show exactly
    that error (to within one sample), for onsets and for silences."""
    rec_len = sum(gap + dur + 2000 for gap, dur, _ in requests) + BLOCK
    spans, marks, pos = [], [], 0
    rec = recording(np.zeros(rec_len, np.float32))
    for gap, dur, cancelled in requests:
        submit_i = pos
        onset_i, end_i = pos + gap, pos + gap + dur
        spans.append((onset_i, end_i))
        submit_ns = rec.dac_ns(submit_i)
        ttfa = (rec.dac_ns(onset_i) - submit_ns) / 1e6 + app_error_us / 1000
        cancel_ns = rec.dac_ns(end_i) - 30_000_000 if cancelled else None
        to_silence = (rec.dac_ns(end_i) - cancel_ns) / 1e6 + app_error_us / 1000 if cancel_ns else None
        marks.append(RunMarks(submit_ns, ttfa, None, cancel_ns, to_silence))
        pos = end_i + 2000
    rec.samples[:] = burst(rec_len, spans)
    rows = check_runs(rec, marks)
    one_sample_ms = 1000 / RATE
    for row, (_, _, cancelled) in zip(rows, requests, strict=True):
        assert abs(row["ttfa_diff_ms"] + app_error_us / 1000) <= one_sample_ms  # type: ignore[operator]
        if cancelled:
            assert abs(row["cancel_diff_ms"] + app_error_us / 1000) <= one_sample_ms  # type: ignore[operator]
        else:
            assert row["cancel_diff_ms"] is None
    s = summarize_checks(rows, rec)
    assert s["trials"] == len(requests)
    assert s["cancel_trials"] == sum(c for _, _, c in requests)


def test_summary_keeps_the_sign_of_the_largest_difference() -> None:
    rows = [{"ttfa_diff_ms": d, "voiced_diff_ms": None, "cancel_diff_ms": None} for d in (0.1, -3.0, 2.0)]
    s = summarize_checks(rows, recording(np.zeros(BLOCK, np.float32)))  # type: ignore[arg-type]
    assert s["ttfa_diff_ms_max"] == -3.0
    assert s["ttfa_diff_ms_median"] == 0.1
    assert s["cancel_diff_ms_max"] is None


def test_cycle_starts_come_from_the_earliest_callbacks_across_delays_moves_and_a_missed_cycle() -> None:
    """The recorder's clock. JACK's own frames → time mapping (its DLL) was reset by xruns and then off by up to
    64 ms for seconds (16 of 192 bench runs disagreed with the app by 1-18 ms, every one explained by it). The
    cycle grid read from the recorder's own callbacks is right to microseconds through what a busy machine
    does: callbacks late by up to 40 ms then catching up, the dummy driver starting a new grid 7.3 ms later (and
    two 12 ms moves 27 cycles apart, as in that run), a cycle the recorder missed (its block lost)."""
    rng = np.random.default_rng(3)
    n = 6000
    period = BLOCK * NS
    truth = 5e9 + np.arange(n) * period
    truth[3000:] += 7.3e6  # the driver fell behind and started a new grid
    truth[4000:] += 12.1e6
    truth[4027:] += 12.4e6
    truth[5000:] += period  # a cycle missed: the recording has one block fewer there
    delay = rng.exponential(0.4e6, n)
    for b in rng.choice(n - 20, 40, replace=False):  # the machine stalls; the callbacks then catch up
        delay[b:b + 12] += np.maximum(0.0, rng.uniform(2e6, 40e6) - np.arange(12) * period)
    callbacks = (truth + delay).astype(np.int64)
    est = cycle_starts(np.arange(n, dtype=np.int64) * BLOCK, callbacks, RATE)
    err_ms = np.abs(est - truth) / 1e6
    off = np.flatnonzero(err_ms > 0.05)
    # Only a block that ran later than the grid's next move is read on the next grid (no stamp can tell).
    assert len(off) <= 3 and all(delay[k] > 7.3e6 for k in off), [(int(k), float(err_ms[k])) for k in off]
    assert np.all(est <= callbacks)  # never after the callback that played it
    # the callbacks alone are late by up to 40 ms: the reading is not just "when the callback ran"
    assert (delay / 1e6).max() > 30


def test_summary_counts_runs_off_by_more_than_1_and_5_ms() -> None:
    rec = recording(np.zeros(BLOCK * 4, np.float32))
    rows = [{"ttfa_diff_ms": 0.1, "voiced_diff_ms": 0.1, "cancel_diff_ms": None},
            {"ttfa_diff_ms": 0.2, "voiced_diff_ms": -1.5, "cancel_diff_ms": 0.1},
            {"ttfa_diff_ms": 0.0, "voiced_diff_ms": 0.0, "cancel_diff_ms": -7.25},
            {"ttfa_diff_ms": None, "voiced_diff_ms": None, "cancel_diff_ms": None}]
    s = summarize_checks(rows, rec)  # type: ignore[arg-type]
    assert (s["abs_diff_ms_max"], s["runs_over_1ms"], s["runs_over_5ms"], s["runs_checked"]) == (7.25, 2, 1, 3)


def _pactl(monkeypatch, info: str, sinks: str) -> None:
    import subprocess

    from voicetrace.bench import observer

    answers = {"info": info, "list": sinks}
    monkeypatch.setattr(observer.subprocess, "run", lambda args, **k: subprocess.CompletedProcess(
        args, 0, stdout=answers[args[1]], stderr=""))


def test_through_pipewire_the_recorder_reads_the_default_sinks_monitor_with_pipewires_jack(monkeypatch):
    from voicetrace.bench import observer

    _pactl(monkeypatch, "Server Name: PulseAudio (on PipeWire 0.3.65)\nDefault Sink: speakers\n",
           "Sink #1\n\tName: other\n\tDescription: Other\n\nSink #2\n\tName: speakers\n\tDescription: Speakers\n")
    monkeypatch.setattr(observer, "PW_JACK_LIB", "/")
    monkeypatch.setattr(observer.Path, "exists", lambda self: True)
    client, ports, env = observer.sound_server_monitor()
    assert (client, ports) == ("Speakers", observer.MONITOR_PORTS) and env["LD_LIBRARY_PATH"].startswith("/")


def test_through_pulseaudio_only_a_sink_on_jack_can_be_recorded(monkeypatch):
    import pytest

    from voicetrace.bench import observer
    from voicetrace.errors import UserError

    sink = "Sink #0\n\tName: speakers\n\tDriver: module-jack-sink.c\n\tProperties:\n\t\tjack.client_name = \"PA\"\n"
    _pactl(monkeypatch, "Server Name: pulseaudio\nDefault Sink: speakers\n", sink)
    assert observer.sound_server_monitor() == ("PA", observer.JACK_SINK_PORTS, {})
    _pactl(monkeypatch, "Server Name: pulseaudio\nDefault Sink: speakers\n",
           "Sink #0\n\tName: speakers\n\tDriver: module-null-sink.c\n")
    with pytest.raises(UserError, match="module-jack-sink"):
        observer.sound_server_monitor()
