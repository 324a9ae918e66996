"""`voicetrace bench --suite stream-input`, small: Piper at 30 tokens/s from the local fake chat server, the four
strategies, and the heard-text check against the independent recorder's audio (Whisper tiny.en)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.audio, pytest.mark.models]


def test_small_stream_input_run(jack, tmp_path):
    out = tmp_path / "si"
    p = subprocess.run([sys.executable, "-m", "voicetrace", "bench", "--suite", "stream-input", "--engines", "piper",
                        "--rates", "30", "--repeat", "1", "--replies", "1", "--observe", "--out", str(out)],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads((out / "stream_input.json").read_text())
    runs = res["runs"]
    assert {r["strategy"] for r in runs} == {"whole_reply", "livekit", "realtimetts", "voicetrace"}
    assert len(runs) == 4 and len(res["replies"]) == 1
    for r in runs:
        assert r["outcome"] == "done" and r["stream_input"] and r["first_token_to_audible_ms"] is not None, r
        assert r["heard_text"].split() == r["reply"].split(), r["strategy"]  # every word of the reply was heard
    row = res["summary"]["piper@30"]
    assert "voicetrace_vs_livekit" in row and row["voicetrace_parts_ms"]["first_phrase_synthesis"] is not None
    hc = res["heard_check"]
    assert hc["runs"] == 1 and all(pair["recorder"] for pair in hc["pairs"])
    # what the app says was heard is what the recorder's audio says (Whisper; a word cut at the silence may
    # differ): a gross misattribution — another request's words, or none — fails this
    assert hc["wer_heard_text_vs_recorder_percent"] is not None and hc["wer_heard_text_vs_recorder_percent"] <= 35
    assert "VoiceTrace ÷ LiveKit-style" in (out / "stream_input.md").read_text()
