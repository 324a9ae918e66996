"""One finished request as a flat record (the `speak --json` object, the metrics log line, a table row),
and the summaries built from many: distribution figures, CSV, and a short markdown report."""

from __future__ import annotations

import csv
import io
import math
import platform
import resource
from collections.abc import Iterable, Sequence
from typing import Any

from .metrics import RequestMetrics


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def request_record(m: RequestMetrics, *, engine_load_ms: float | None, warmup_ms: float | None, device: str | None,
                   device_rate: int | None, output_latency_ms: float | None, skipped_phrases: Sequence[str],
                   cold: bool = False) -> dict[str, Any]:
    """Every metric of one request plus where it ran: the same fields wherever a request is reported."""
    record: dict[str, Any] = m.to_dict()
    record.update(engine_load_ms=_r(engine_load_ms), warmup_ms=_r(warmup_ms), peak_rss_mb=peak_rss_mb(),
                  device=device, device_rate=device_rate, output_latency_ms=output_latency_ms,
                  skipped_phrases=list(skipped_phrases), cold=cold)
    return record


def hit_rate(record: dict[str, Any], cache_name: str) -> float | None:
    c = record.get("cache", {}).get(cache_name)
    if not c or not c["lookups"]:
        return None
    return c["hits"] / c["lookups"]


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


# Flat columns for the table and CSV: (header, how to read it from a record).
COLUMNS: list[tuple[str, Any]] = [
    ("request", lambda r: r["request_id"]),
    ("engine", lambda r: r["engine"]),
    ("voice", lambda r: r["voice"]),
    ("outcome", lambda r: r["outcome"]),
    ("chars", lambda r: r["text_chars"]),
    ("TTFA cb ms", lambda r: r["ttfa_callback_ms"]),
    ("TTFA audible ms", lambda r: r["ttfa_audible_ms"]),
    ("TTFA voiced ms", lambda r: r["ttfa_voiced_ms"]),
    ("1st phrase cached", lambda r: "yes" if r.get("first_chunk_cached") else ""),
    ("server TTFA ms", lambda r: r.get("server_ttfa_ms")),
    ("network ms", lambda r: r.get("network_ms")),
    ("RTF", lambda r: r["rtf"]),
    ("audio ms", lambda r: r["audio_ms"]),
    ("chunks", lambda r: len(r["chunks"])),
    ("underruns", lambda r: r["underruns"]),
    ("cancel→silence ms", lambda r: r["cancel_to_silence_ms"]),
    ("cancel→idle ms", lambda r: r["cancel_to_idle_ms"]),
    ("stale samples", lambda r: r["stale_samples_after_cancel"] if r["cancelled"] else None),
    ("phoneme hits", lambda r: hit_rate(r, "phonemes")),
    ("phrase-audio hits", lambda r: hit_rate(r, "phrase_audio")),
    ("voice-style hits", lambda r: hit_rate(r, "voice_style")),
    ("error", lambda r: r.get("error")),
]


def flat_row(record: dict[str, Any]) -> list[Any]:
    return [get(record) for _, get in COLUMNS]


def to_csv(records: Iterable[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([h for h, _ in COLUMNS])
    for r in records:
        w.writerow(["" if v is None else v for v in flat_row(r)])
    return buf.getvalue()


def _fmt(x: float | int | None, unit: str = " ms") -> str:
    return "—" if x is None else f"{x:.1f}{unit}" if isinstance(x, float) else f"{x}{unit}"


def markdown_report(records: Sequence[dict[str, Any]], device: str | None) -> str:
    """A short summary per engine, for pasting into an issue or a chat."""
    lines = [f"### VoiceTrace — {len(records)} requests on {platform.machine()} / {platform.system()}, "
             f"device {device or '—'}", "",
             "| engine | n | TTFA audible median / p95 | RTF median | underruns | cancel→silence median / max "
             "| cancel→idle median / max | stale samples |",
             "|---|---|---|---|---|---|---|---|"]
    for engine in sorted({r["engine"] for r in records}):
        rs = [r for r in records if r["engine"] == engine]
        ttfa = distribution(r["ttfa_audible_ms"] for r in rs)
        rtf = distribution(r["rtf"] for r in rs)
        sil = distribution(r["cancel_to_silence_ms"] for r in rs)
        idle = distribution(r["cancel_to_idle_ms"] for r in rs)
        stale = sum(r["stale_samples_after_cancel"] for r in rs if r["cancelled"])
        rtf_s = "—" if rtf["median"] is None else f"{rtf['median']:.3f}"
        lines.append(f"| {engine} | {len(rs)} | {_fmt(ttfa['median'])} / {_fmt(ttfa['p95'])} | {rtf_s} "
                     f"| {sum(r['underruns'] for r in rs)} | {_fmt(sil['median'])} / {_fmt(sil['max'])} "
                     f"| {_fmt(idle['median'])} / {_fmt(idle['max'])} | {stale} |")
    return "\n".join(lines) + "\n"
