"""Formatting finished requests' records (`RequestMetrics`): table columns, CSV, a short markdown report, and
the distribution figures built from many. Nothing here measures or re-derives a figure."""

from __future__ import annotations

import csv
import io
import math
import platform
import resource
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..contract import RequestMetrics


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence: always a value that was observed."""
    s = sorted(values)
    k = max(1, math.ceil(q / 100 * len(s)))
    return s[k - 1]


def distribution(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """median / p95 / max of the observed values (None where nothing was observed)."""
    v = [x for x in values if x is not None]
    if not v:
        return {"n": 0, "median": None, "p95": None, "max": None}
    s = sorted(v)
    mid = len(s) // 2
    median = s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
    return {"n": len(s), "median": round(median, 3), "p95": round(percentile(s, 95), 3), "max": round(s[-1], 3)}


Column = tuple[str, Callable[[RequestMetrics], Any]]
# Flat columns for the table and CSV: (header, how to read it from a record).
COLUMNS: list[Column] = [
    ("request", lambda r: r.request_id),
    ("engine", lambda r: r.engine),
    ("voice", lambda r: r.voice),
    ("outcome", lambda r: r.outcome),
    ("chars", lambda r: r.text_chars),
    ("TTFA cb ms", lambda r: r.ttfa_callback_ms),
    ("TTFA audible ms", lambda r: r.ttfa_audible_ms),
    ("TTFA voiced ms", lambda r: r.ttfa_voiced_ms),
    ("1st phrase cached", lambda r: "yes" if r.first_chunk_cached else ""),
    ("server TTFA ms", lambda r: r.server_ttfa_ms),
    ("network ms", lambda r: r.network_ms),
    ("RTF", lambda r: r.rtf),
    ("audio ms", lambda r: r.audio_ms),
    ("chunks", lambda r: len(r.chunks)),
    ("underruns", lambda r: r.underruns),
    ("paused ms", lambda r: r.paused_ms if r.pauses else None),
    ("cancel→silence ms", lambda r: r.cancel_to_silence_ms),
    ("cancel→idle ms", lambda r: r.cancel_to_idle_ms),
    ("stale samples", lambda r: r.stale_samples_after_cancel if r.cancelled else None),
    ("1st text→audible ms", lambda r: r.ttfa_from_first_text_ms),
    ("starved", lambda r: r.text_starvations if r.stream_input else None),
    ("heard", lambda r: (r.heard_text if r.heard_exact else f"≈ {r.heard_text}") if r.cancelled else None),
    ("phoneme hits", lambda r: r.hit_rate("phonemes")),
    ("phrase-audio hits", lambda r: r.hit_rate("phrase_audio")),
    ("voice-style hits", lambda r: r.hit_rate("voice_style")),
    ("lost records", lambda r: r.events_lost or None),
    ("error", lambda r: r.error),
]


def flat_row(record: RequestMetrics) -> list[Any]:
    return [get(record) for _, get in COLUMNS]


def to_csv(records: Iterable[RequestMetrics]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([h for h, _ in COLUMNS])
    for r in records:
        w.writerow(["" if v is None else v for v in flat_row(r)])
    return buf.getvalue()


def _fmt(x: float | int | None, unit: str = " ms") -> str:
    return "—" if x is None else f"{x:.1f}{unit}" if isinstance(x, float) else f"{x}{unit}"


def markdown_report(records: Sequence[RequestMetrics], device: str | None) -> str:
    """A short summary per engine, for pasting into an issue or a chat."""
    lines = [f"### VoiceTrace — {len(records)} requests on {platform.machine()} / {platform.system()}, "
             f"device {device or '—'}", "",
             "| engine | n | TTFA audible median / p95 | RTF median | underruns | cancel→silence median / max "
             "| cancel→idle median / max | stale samples |",
             "|---|---|---|---|---|---|---|---|"]
    for engine in sorted({r.engine for r in records}):
        rs = [r for r in records if r.engine == engine]
        ttfa = distribution(r.ttfa_audible_ms for r in rs)
        rtf = distribution(r.rtf for r in rs)
        sil = distribution(r.cancel_to_silence_ms for r in rs)
        idle = distribution(r.cancel_to_idle_ms for r in rs)
        stale = sum(r.stale_samples_after_cancel for r in rs if r.cancelled)
        rtf_s = "—" if rtf["median"] is None else f"{rtf['median']:.3f}"
        lines.append(f"| {engine} | {len(rs)} | {_fmt(ttfa['median'])} / {_fmt(ttfa['p95'])} | {rtf_s} "
                     f"| {sum(r.underruns for r in rs)} | {_fmt(sil['median'])} / {_fmt(sil['max'])} "
                     f"| {_fmt(idle['median'])} / {_fmt(idle['max'])} | {stale} |")
    return "\n".join(lines) + "\n"
