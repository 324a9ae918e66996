"""Kokoro's graph cut in two, so one phrase can be decoded in pieces (docs/measurements.md,
"Kokoro's graph cut in two").

- *front*: `tokens, style, speed` → the generator's input (512 channels, 2 frames per duration unit, 300
  samples per frame), the harmonic source signal, and the per-token durations (1 unit = 600 samples). The
  source's STFT (`har`) is not in the front: ONNX's STFT op was 40 % of the front's time (138 of 347 ms for an
  80-token sentence); numpy does it in ~5 ms.
- *generator*: the generator input + `har` + `style` → audio, in two variants: `whole` (as exported, with its
  88 norm statistics — the `ReduceMean`s of its 44 AdaIN InstanceNorms — also returned, for calibration) and
  `fed` (those statistics are inputs: a piece decoded alone keeps the loudness of the whole phrase).

Run back to back, front + whole generator is the whole graph (the STFT in numpy differs in float rounding and in
the phase of silent bins: 3.9–4.4 dB log-spectral distance, inside the int8 model's own 4.7–5.1 dB floor).
The cut graphs are built once per model file and kept in the user cache (never in the install folder); a graph
without these tensor names is not cut (`None`: the caller falls back to the whole graph)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..contract import AudioArray

GEN_INPUT = "/decoder/decoder/decode.3/Div_4_output_0"
SOURCE = "/decoder/decoder/generator/Reshape_3_output_0"  # the STFT's input: the padded harmonic source
HAR = "/decoder/decoder/generator/Concat_3_output_0"
DURATIONS = "/encoder/Clip_output_0"
FRONT_INPUTS = ("tokens", "style", "speed")
STAT_SCOPE = "/decoder/decoder/generator/"

SAMPLES_PER_FRAME = 300
FRAMES_PER_UNIT = 2
HAR_PER_FRAME = 60
_N_FFT, _HOP = 20, 5  # the exported STFT's frame length and step (read from the graph when it is cut)
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_N_FFT) / _N_FFT)).astype(np.float32)  # periodic Hann
FORMAT = 2  # bump when the cut changes: older caches are rebuilt


@dataclass(frozen=True)
class SplitGraph:
    front: Path
    whole: Path  # the generator as exported, + its norm statistics as outputs
    fed: Path  # the generator with its norm statistics as inputs
    stats: tuple[str, ...]  # the statistics' tensor names, in the order of `whole`'s extra outputs


def harmonics(source: AudioArray) -> AudioArray:
    """`har` from the front's source signal: the magnitude and phase of its STFT, as the exported graph makes
    them ([1, 22, frames])."""
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(source, np.float32).reshape(-1), _N_FFT)[::_HOP]
    spec = np.fft.rfft(frames * _WINDOW, axis=1)
    return np.concatenate([np.abs(spec).T, np.arctan2(spec.imag, spec.real).T])[None].astype(np.float32)


def cache_key(model: Path, sha256: str | None) -> str:
    """The packaged model's checksum; for a user's file, its path, size and mtime (hashing 300 MB on every
    start would cost more than the cut)."""
    if sha256:
        return sha256[:24]
    st = model.stat()
    return hashlib.sha256(f"{model.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:24]


def _meta_ok(folder: Path) -> SplitGraph | None:
    try:
        meta = json.loads((folder / "split.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            return None
        files = {k: folder / v["name"] for k, v in meta["files"].items()}
        for k, v in meta["files"].items():
            if files[k].stat().st_size != int(v["size"]):
                return None
        return SplitGraph(files["front"], files["whole"], files["fed"], tuple(meta["stats"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_or_split(model: Path, folder: Path, rebuild: bool = False) -> SplitGraph | None:
    """The cut graphs for `model` in `folder` (cut now if missing, stale or `rebuild`); None if this graph
    cannot be cut. Raises OSError only if the cache cannot be written."""
    if not rebuild:
        found = _meta_ok(folder)
        if found is not None:
            return found
    import onnx
    import onnx.utils
    from onnx import TensorProto, helper

    m = onnx.load(str(model))
    names = {o for n in m.graph.node for o in n.output}
    if not {GEN_INPUT, SOURCE, HAR, DURATIONS} <= names or [i.name for i in m.graph.input] != list(FRONT_INPUTS):
        return None
    stft = [n for n in m.graph.node if n.op_type == "STFT" and n.input and n.input[0] == SOURCE]
    if len(stft) != 1 or not _stft_matches(m, stft[0]):
        return None
    ext = onnx.utils.Extractor(m)
    front = ext.extract_model(list(FRONT_INPUTS), [GEN_INPUT, SOURCE, DURATIONS])
    gen = ext.extract_model([GEN_INPUT, HAR, "style"], ["audio"])
    stat_nodes = [n for n in gen.graph.node if n.op_type == "ReduceMean" and n.name.startswith(STAT_SCOPE)]
    if not stat_nodes:
        return None
    stats = tuple(n.output[0] for n in stat_nodes)
    whole = onnx.ModelProto()
    whole.CopyFrom(gen)
    for s in stats:
        whole.graph.output.append(helper.make_tensor_value_info(s, TensorProto.FLOAT, None))
    fed = onnx.ModelProto()
    fed.CopyFrom(gen)
    for n in fed.graph.node:
        if n.output[0] in stats:
            n.output[0] += "__local"  # dead now: pruned below
    for s in stats:
        fed.graph.input.append(helper.make_tensor_value_info(s, TensorProto.FLOAT, [1, None, 1]))
    _prune(fed.graph)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for key, proto in (("front", front), ("whole", whole), ("fed", fed)):
        path = folder / f"{key}.onnx"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        onnx.save(proto, str(tmp))
        tmp.replace(path)
        files[key] = {"name": path.name, "size": path.stat().st_size}
    (folder / "split.json").write_text(json.dumps({"format": FORMAT, "model": str(model), "files": files,
                                                   "stats": list(stats)}, indent=1), encoding="utf-8")
    return _meta_ok(folder)


def _stft_matches(m: Any, node: Any) -> bool:
    """The cut recomputes the STFT in numpy with a 20-point periodic Hann window and a step of 5: only cut a
    graph whose STFT is exactly that."""
    from onnx import numpy_helper

    consts: dict[str, Any] = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].HasField("t"):
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    try:
        step, window, length = (consts[i] for i in node.input[1:4])
    except (KeyError, ValueError):
        return False
    return (int(step) == _HOP and int(length) == _N_FFT and np.shape(window) == (_N_FFT,)
            and np.allclose(window, _WINDOW, atol=1e-6))


def _prune(graph: Any) -> None:
    """Drop nodes (and weights) nothing reaches an output through."""
    need = {o.name for o in graph.output}
    keep = []
    for n in reversed(list(graph.node)):
        if any(o in need for o in n.output):
            keep.append(n)
            need.update(i for i in n.input if i)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    used = {i for n in graph.node for i in n.input}
    inits = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)
