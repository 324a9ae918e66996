"""`voicetrace speak --out FILE`: the speech synthesised into a file of the format its name asks for (the one
encoder), read back at the length the record says; a name it cannot write is said before anything loads."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.models

@pytest.mark.parametrize("ext", ["flac", "mp3"])
def test_speak_out_writes_the_speech_to_a_file_in_the_format_its_name_asks_for(tmp_path, ext):
    import json
    import subprocess
    import sys

    import soundfile as sf

    out = tmp_path / f"speech.{ext}"
    p = subprocess.run([sys.executable, "-m", "voicetrace", "speak", "--engine", "piper", "--json", "--out",
                        str(out), "Saving speech to a file, in pieces, as it is made."],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    rec = json.loads(p.stdout)
    assert rec["outcome"] == "done" and rec["out"] == str(out)
    back, rate = sf.read(str(out), dtype="float32")
    assert len(back) / rate == pytest.approx(rec["seconds"], rel=0.04) and rec["seconds"] > 1.5
    bad = subprocess.run([sys.executable, "-m", "voicetrace", "speak", "--engine", "piper", "--out",
                          str(tmp_path / "speech.aiff"), "Hello."], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "unknown audio format" in bad.stderr and not (tmp_path / "speech.aiff").exists()
