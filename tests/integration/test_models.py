"""Models come from wheels, user-dropped models are found and load, bad files give one clear error."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from voicetrace.engines import create_engine
from voicetrace.engines.catalog import catalog, ensure_files, find_model
from voicetrace.errors import ModelError

pytestmark = [pytest.mark.models]


def test_packaged_models_verify():
    for entry in catalog():
        if entry.packaged:
            ensure_files(entry, verify=True)


def test_user_piper_voice_is_listed_and_speaks(tmp_path, monkeypatch):
    joe = find_model("piper")
    shutil.copy(joe.path("model"), tmp_path / "en_US-test-medium.onnx")
    shutil.copy(joe.path("config"), tmp_path / "en_US-test-medium.onnx.json")
    monkeypatch.setenv("VOICETRACE_MODELS_DIR", str(tmp_path))
    entry = find_model("piper:en_US-test-medium")
    eng = create_engine(entry)
    eng.load()
    res = eng.synthesize("Hello from a dropped-in voice.", eng.default_voice, 1.0)
    assert len(res.audio) / res.rate > 0.5


def test_user_kokoro_layout_with_english_voice_names_loads(tmp_path, monkeypatch):
    """kokoro-v1.0.onnx + voices-v1.0.bin is picked up; (the int8 graph and a voice saved under an English
    name stand in for the real English release, which cannot be downloaded here)."""
    k = find_model("kokoro")
    ensure_files(k)
    (tmp_path / "kokoro-v1.0.onnx").symlink_to(k.path("model"))
    with np.load(k.path("voices")) as v, open(tmp_path / "voices-v1.0.bin", "wb") as fh:
        np.savez(fh, af_test=v["jm_kumo"])
    monkeypatch.setenv("VOICETRACE_MODELS_DIR", str(tmp_path))
    eng = create_engine(find_model("kokoro-en"))
    eng.load()
    assert eng.voices() == ["af_test"] and eng.default_voice == "af_test"
    assert len(eng.synthesize("Hi.", "af_test", 1.0).audio) > 0


def test_corrupt_model_names_the_file(tmp_path, monkeypatch):
    (tmp_path / "broken.onnx").write_bytes(b"this is not an onnx graph")
    (tmp_path / "broken.onnx.json").write_text(find_model("piper").path("config").read_text())
    monkeypatch.setenv("VOICETRACE_MODELS_DIR", str(tmp_path))
    eng = create_engine(find_model("piper:broken"))
    with pytest.raises(ModelError, match=r"broken\.onnx"):
        eng.load()


def test_corrupt_cached_kokoro_is_detected_and_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICETRACE_CACHE_DIR", str(tmp_path))
    entry = find_model("kokoro")
    ensure_files(entry)  # assembles from the four part wheels
    path = entry.path("model")
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt"):
        ensure_files(entry, verify=True)
    path.unlink()
    ensure_files(entry, verify=True)  # rebuilt from the wheels, checksum ok


def test_unknown_model_lists_the_choices():
    with pytest.raises(ModelError, match="piper"):
        find_model("whisper")
