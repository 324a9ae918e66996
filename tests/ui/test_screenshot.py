"""The real window on a real X server (Xvfb): the scripted tour speaks, runs a short barge-in demo, and
saves a screenshot of the window to build/test-output/window.png for anyone to look at."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.audio, pytest.mark.models]

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "test-output"


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


def test_window_under_xvfb_speaks_interrupts_and_saves_a_screenshot(jack, tmp_path):
    if shutil.which("xvfb-run") is None:
        pytest.fail("xvfb-run is missing: run `make setup-test` (it installs xvfb)")
    OUT.mkdir(parents=True, exist_ok=True)
    shot = OUT / "window.png"
    shot.unlink(missing_ok=True)
    log = tmp_path / "metrics.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x720x24", sys.executable, "-m", "voicetrace", "app",
           "--settings", str(tmp_path / "s.ini"), "--metrics-log", str(log), "--screenshot", str(shot),
           "--tour-rounds", "2", "--timeout", "240"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.exists(), proc.stderr[-2000:]
    width, height = _png_size(shot)
    assert 1100 <= width <= 1280 and 600 <= height <= 720  # the size it picked for a 1280×720 screen
    records = [json.loads(x) for x in log.read_text().splitlines()]
    # greeting (done) + 2 interrupted demo rounds (+ the last request, cancelled when the window closed)
    assert records[0]["outcome"] == "done"
    assert [r["outcome"] for r in records[1:3]] == ["cancelled", "cancelled"]
    assert all(r["stale_samples_after_cancel"] == 0 for r in records)
