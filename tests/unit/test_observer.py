"""The observer's analysis on synthetic recordings whose onsets and silences are known to the sample."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from voicetrace.bench.observer import Recording, RunMarks, check_runs, first_above, silence_after, summarize_checks

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
