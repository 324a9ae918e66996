"""The benchmark reports render every figure they are given (synthetic results, no engines)."""

from __future__ import annotations

from voicetrace.bench import barge_in as bench_bargein
from voicetrace.bench import levers as bench_levers


def test_levers_report_has_a_row_per_variant_and_reply() -> None:
    res = {"machine": "test box",
           "ort": {"piper": [{"variant": "app default", "load_ms": 120.0, "first_phrase_compute_ms": 30.5,
                              "rtf": 0.05},
                             {"variant": "saved optimised graph (session load only)", "load_ms": 40.0,
                              "baseline_load_ms": 110.0, "first_phrase_compute_ms": None, "rtf": None}]},
           "chunking": {"piper": {"fixed 8-word phrases": {"ttfa_audible_ms": 150.0, "underruns": 2,
                                                           "underrun_ms": 30.5, "runs": 3}}},
           "phrase_cache": {"piper": {"replies": ["Sure."], "miss_ttfa_audible_ms": [60.0],
                                      "hit_ttfa_audible_ms": [25.0]}},
           "peak_rss_mb": {"piper": 400.0, "piper,kokoro": 650.0}}
    md = bench_levers.markdown(res)
    assert "| piper | app default | 120 ms | 30 ms | 0.05 |" in md
    assert "40 ms (vs 110 ms optimising at start)" in md
    assert "| piper | fixed 8-word phrases | 150 ms | 2 (30.5) |" in md
    assert "| piper | Sure. | 60 ms | 25 ms |" in md
    assert "piper,kokoro 650 MB" in md


def test_barge_in_report_states_detections_and_false_triggers() -> None:
    d = {"median": 340.0, "p95": 500.0, "max": 700.0, "n": 3}
    res = {"machine": "test box", "echo_gain": 0.5, "min_speech_ms": 200.0,
           "summary": {"speech_trials": 3, "detected": 3, "onset_to_silence_ms": d, "vad_delay_ms": d,
                       "decide_ms": d, "cancel_to_silence_ms": d, "onset_error_ms": d, "false_triggers_echo": 0,
                       "echo_trials": 2, "false_triggers_noise": 1, "noise_trials": 2, "stale_samples": 0,
                       "listener_cpu_us_per_frame": 1800.0}}
    md = bench_bargein.markdown(res)
    assert "3/3 user utterances detected" in md
    assert "| speech onset → silence | 340.0 | 500.0 | 700.0 |" in md
    assert "0/2 echo-only trials, 1/2 echo + cough/knock trials" in md
