"""`bench --suite frameworks`: its CPU clock's rules (busy, at rest, when an engine went idle), its table, and a
small run of its Pipecat half through a real pipeline on the fake engine (the suite itself runs Kokoro and Piper
against Pipecat's stock services for minutes: bench only)."""

from __future__ import annotations

import asyncio

from voicetrace.bench.frameworks import REPLIES, CpuClock, _pipecat_service, report, summarize
from voicetrace.integrations.pipecat import VoiceTraceTTSService


def _clock(samples: list[tuple[float, float]]) -> CpuClock:
    """A clock with (time s, CPU s) samples, every 5 ms."""
    c = CpuClock()
    c.samples = [(t, int(cpu * 1e9)) for t, cpu in samples]
    return c


def _busy_until(stop_s: float, end_s: float = 2.0) -> CpuClock:
    """One core busy until `stop_s`, then 2 % of a core."""
    out, cpu, t = [], 0.0, 0.0
    while t <= end_s:
        out.append((t, cpu))
        cpu += 0.005 if t < stop_s else 0.0001
        t = round(t + 0.005, 3)
    return _clock(out)


def test_the_engine_is_idle_when_the_process_comes_to_rest() -> None:
    clock = _busy_until(1.2)
    rest = clock.rest_after(1.0)
    # from the interruption at 1.0 to the stop at 1.2, less at most REST_SHARE · REST_S (15 ms: the rule's grain)
    assert rest is not None and 0.185 <= rest <= 0.205
    assert _busy_until(5.0).rest_after(1.0) is None  # never at rest within the samples: no number invented


def test_busy_and_rested_look_at_the_latest_samples() -> None:
    assert _busy_until(5.0).busy() and not _busy_until(5.0).rested(0.5)
    assert not _busy_until(0.5).busy() and _busy_until(0.5).rested(0.8)
    assert not _busy_until(0.5, end_s=0.3).rested(0.8)  # not sampled that long yet


def _row(service: str, kind: str, rate: float, first: float, words: int, idle: float | None = None) -> dict:
    row = {"service": service, "kind": kind, "tokens_per_s": rate, "first_audio_ms": first, "words": 10,
           "word_frames": words, "voicetrace": {}}
    if kind == "interrupt":
        row |= {"busy_at_interrupt": True, "interrupt_to_last_audio_ms": 0.0, "interrupt_to_idle_ms": idle}
    return row


def test_the_table_has_a_row_per_service_with_its_medians() -> None:
    rows = [_row("voicetrace-kokoro", "reply", 10, 900, 10), _row("voicetrace-kokoro", "reply", 30, 600, 10),
            _row("voicetrace-kokoro", "interrupt", 30, 500, 0, 4.0),
            _row("stock-kokoro", "reply", 10, 6000, 0), _row("stock-kokoro", "reply", 30, 5000, 0),
            _row("stock-kokoro", "interrupt", 30, 5000, 0, 1800.0)]
    res = {"summary": summarize(rows, []), "setup": {"repeat": 1, "interrupt_after_s": 1.0, "rest": "r",
                                                      "busy": "b"}}
    text = report(res)
    assert "| pipecat voicetrace-kokoro | 900 ms | 600 ms | yes | 0 ms | 4 ms |" in text
    assert "| pipecat stock-kokoro | 6000 ms | 5000 ms | no (0.0/word) | 0 ms | 1800 ms |" in text


def test_a_small_run_through_a_real_pipecat_pipeline(slow_fake) -> None:
    async def main() -> list[dict]:
        with CpuClock() as clock:
            return await _pipecat_service("voicetrace-fake", lambda: VoiceTraceTTSService(engine=slow_fake), (30.0,),
                                          1, clock, replies=REPLIES[:1])

    rows = asyncio.run(main())
    replies = [r for r in rows if r["kind"] == "reply"]
    (stop,) = [r for r in rows if r["kind"] == "interrupt"]
    assert len(replies) == 1
    assert all(r["first_audio_ms"] > 0 and r["audio_s"] > 1 for r in replies)
    assert all(r["word_frames"] == r["words"] for r in replies)  # one timed word frame per word
    assert stop["audio_frames_after_interrupt"] == 0 and stop["voicetrace"]["outcome"] == "cancelled"
