"""`bench --suite window`'s arithmetic and texts (the suite itself runs the real window for minutes: bench only)."""

from __future__ import annotations

from voicetrace.bench.threadcpu import Sample, usage
from voicetrace.bench.window import bench_paragraphs, report, summary


def test_the_ten_paragraphs_are_whole_paragraphs() -> None:
    paras = bench_paragraphs(10)
    assert len(paras) == 10 and len(set(paras)) == 10
    assert all(50 <= len(p.split()) <= 150 and "\n\n" not in p for p in paras)


def _row(ttfa: float, rtf: float, underruns: int, qt: float | None = None) -> dict:
    row = {"ttfa_audible_ms": ttfa, "rtf": rtf, "underruns": underruns}
    if qt is not None:
        row |= {"qt_pct": qt, "others_pct": {"99": 0.5}}
    return row


def test_the_summary_compares_medians_and_counts_every_underrun() -> None:
    res = {"engine": "kokoro", "greeting": _row(400, 0.5, 2),
           "window": [_row(300, 0.4, 0, 6.0), _row(360, 0.5, 3, 9.0), _row(330, 0.45, 0, 7.0)],
           "cli": [_row(300, 0.4, 0), _row(300, 0.5, 1), _row(250, 0.3, 0)], "idle": {"process_pct": 0.4}}
    row = summary(res)
    assert row["window_ttfa_audible_ms"] == 330 and row["cli_ttfa_audible_ms"] == 300
    assert row["ttfa_audible_ms_ratio"] == 1.1 and row["rtf_ratio"] == 1.12
    assert row["qt_pct_median"] == 7.0 and row["qt_pct_max"] == 9.0 and row["xserver_pct_median"] == 0.5
    assert (row["window_underruns"], row["greeting_underruns"], row["cli_underruns"]) == (3, 2, 1)
    assert "| kokoro | 330 / 300 | 1.1 |" in report([row], 3)


def test_cpu_shares_come_from_the_tick_counters() -> None:
    """Two samples 2 s apart: the main thread (its id is the process's) used 0.5 s, another thread 1 s."""
    from voicetrace.bench.threadcpu import TICK

    a = Sample(10.0, {(7, "python"): 0, (8, "ort"): 0}, {99: 0})
    b = Sample(12.0, {(7, "python"): TICK // 2, (8, "ort"): TICK, (9, "new"): 0}, {99: TICK // 10})
    used = usage(a, b, 7)
    assert used["qt_pct"] == 25.0 and used["process_pct"] == 75.0 and used["others_pct"] == {"99": 5.0}
    assert next(iter(used["top_threads"])) == "ort#8"
