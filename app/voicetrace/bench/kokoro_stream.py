"""Kokoro decoded in pieces against the whole call, same engine, same texts, one run (the quality guard of the
cut graph; `bench --suite levers` includes it, `--suite kokoro-stream` runs it alone).

Per text, the whole call (`stream=False`) and the pieces (as the first phrase is made: nothing buffered):
- time to the first audio out of the engine, and the whole phrase's compute (RTF: splitting must not make a
  phrase much slower);
- log-spectral distance from the whole call, next to the model's own floor: the whole call against itself one
  frame shorter (the int8 graph's dynamic quantisation changes every rounding with the length);
- loudness: RMS of each 300 ms of voice against the same stretch of the whole call, the first one apart;
- clicks: at each join, the sample step against the whole call's largest step around the same moment (> 2×
  counts as a click);
- WER (Whisper tiny.en) and DNSMOS P.835 overall (the `sig_bak_ovr` model inside `speechmos`'s wheel, fed
  16 kHz audio directly: no librosa) of each.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .files import save_results

WINDOW_S = 0.3
CLICK_RATIO = 2.0


def _voice_start(x: np.ndarray) -> int:
    loud = np.flatnonzero(np.abs(x) > 10 ** (-40 / 20))
    return int(loud[0]) if loud.size else 0


def lsd_db(a: np.ndarray, b: np.ndarray, n: int = 512) -> float:
    """Mean log-spectral distance (dB) of two equally aligned signals, over their common length."""
    m = min(len(a), len(b))
    if m < n:
        return float("nan")
    win = np.hanning(n)

    def spec(v: np.ndarray) -> np.ndarray:
        frames = np.lib.stride_tricks.sliding_window_view(v[:m], n)[:: n // 4] * win
        return np.abs(np.fft.rfft(frames)) ** 2 + 1e-10

    d = 10 * np.log10(spec(a) / spec(b))
    return float(np.mean(np.sqrt(np.mean(d**2, axis=1))))


def loudness_ratios(streamed: np.ndarray, whole: np.ndarray, rate: int) -> list[float]:
    """RMS of each WINDOW_S of voice, streamed / whole, both from their first voiced sample."""
    a, b = streamed[_voice_start(streamed):], whole[_voice_start(whole):]
    w = int(WINDOW_S * rate)
    out = []
    for k in range(min(len(a), len(b)) // w):
        ra = float(np.sqrt(np.mean(a[k * w:(k + 1) * w] ** 2)))
        rb = float(np.sqrt(np.mean(b[k * w:(k + 1) * w] ** 2)))
        if rb > 10 ** (-30 / 20):  # (nearly) a pause: no ratio
            out.append(ra / rb)
    return out


def click_ratios(streamed: np.ndarray, whole: np.ndarray, joins: list[int]) -> list[float]:
    """At each join, the streamed audio's sample step against the largest step of the whole call within ±4 ms
    of the same moment (the pieces cover the whole call's frames from a later start, so the moments align by
    the difference in length): above 1 the join made a step the voice itself does not make there."""
    offset = len(whole) - len(streamed)
    ds, dw = np.abs(np.diff(streamed)), np.abs(np.diff(whole))
    out = []
    for j in joins:
        k = j - 1 + offset
        if 0 < j < len(ds) and 0 <= k < len(dw):
            out.append(float(ds[j - 1] / (dw[max(0, k - 100):k + 100].max() + 1e-4)))
    return out


class Dnsmos:
    """DNSMOS P.835 overall, from the ONNX model `speechmos` ships (no download)."""

    RATE = 16_000
    SECONDS = 9.01

    def __init__(self) -> None:
        import importlib.util

        import onnxruntime as ort

        spec = importlib.util.find_spec("speechmos")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("speechmos is not installed (make bench-setup)")
        path = Path(next(iter(spec.submodule_search_locations))) / "dnsmos_models" / "sig_bak_ovr.onnx"
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def overall(self, audio: np.ndarray, rate: int) -> float:
        import soxr

        x = np.asarray(soxr.resample(audio.astype(np.float32), rate, self.RATE), np.float32)
        n = int(self.SECONDS * self.RATE)
        while len(x) < n:  # as the reference code does: a short clip is repeated
            x = np.concatenate([x, x])
        scores = []
        for start in range(0, len(x) - n + 1, self.RATE):
            ovr = self.session.run(None, {"input_1": x[None, start:start + n]})[0][0][2]
            scores.append(float(np.poly1d([-0.06766283, 1.11546468, 0.04602535])(ovr)))
        return round(statistics.fmean(scores), 3)


def _floor(eng: Any, text: str) -> float:
    """The whole call against the whole call one frame shorter (the trailing pad frame dropped)."""
    from ..engines import kokoro_graph as kg

    f = eng._prepare(text, eng.default_voice, 1.0, [])
    whole = eng._whole(f, eng.default_voice)
    n = f.gen_input.shape[2] - 1
    short = eng._run(eng._gen_whole, {kg.GEN_INPUT: f.gen_input[:, :, :n],
                                      kg.HAR: f.har[:, :, :kg.HAR_PER_FRAME * n + 1], "style": f.style})[0]
    s = _voice_start(whole)
    return lsd_db(np.asarray(short).reshape(-1)[s:], whole[s:])


def compare_modes(eng: Any, texts: list[str], transcribe: Any = None, mos: Any = None) -> dict[str, Any]:
    """Per text and in summary: whole call vs pieces (see the module docstring)."""
    rows = []
    for text in texts:
        row: dict[str, Any] = {"text": text}
        for mode in ("whole", "stream"):
            t0 = time.perf_counter_ns()
            first_ns = None
            parts = []
            compute = 0
            for p in eng.synthesize_pieces(text, eng.default_voice, 1.0, use_cache=False, stream=mode == "stream"):
                first_ns = first_ns or time.perf_counter_ns()
                parts.append(p.audio)
                compute += p.compute_ns
            audio = np.concatenate(parts)
            row[mode] = {"first_audio_ms": round((first_ns - t0) / 1e6, 1) if first_ns else None,
                         "compute_ms": round(compute / 1e6, 1), "pieces": len(parts),
                         "rtf": round(compute / 1e9 / max(len(audio) / eng.rate, 1e-3), 3),
                         "joins": list(np.cumsum([len(x) for x in parts])[:-1].tolist())}
            row[mode + "_audio"] = audio
        whole, streamed = row.pop("whole_audio"), row.pop("stream_audio")
        ratios = loudness_ratios(streamed, whole, eng.rate)
        clicks = click_ratios(streamed, whole, row["stream"]["joins"])
        row.update(lsd_db=round(lsd_db(streamed[_voice_start(streamed):], whole[_voice_start(whole):]), 2),
                   floor_lsd_db=round(_floor(eng, text), 2),
                   loudness_first=round(ratios[0], 3) if ratios else None,
                   loudness_min=round(min(ratios), 3) if ratios else None,
                   loudness_max=round(max(ratios), 3) if ratios else None,
                   join_step_max=round(max(clicks), 2) if clicks else None,
                   clicks=sum(c > CLICK_RATIO for c in clicks))
        if transcribe is not None:
            from .wer import word_errors

            for mode, audio in (("whole", whole), ("stream", streamed)):
                heard = transcribe(audio, eng.rate)
                row[mode]["heard"] = heard
                row[mode]["errors"], row[mode]["words"] = word_errors(text, heard)
        if mos is not None:
            row["whole"]["dnsmos"] = mos.overall(whole, eng.rate)
            row["stream"]["dnsmos"] = mos.overall(streamed, eng.rate)
        rows.append(row)
        print(f"\r  kokoro whole vs pieces: {len(rows)}/{len(texts)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    return {"rows": rows, "summary": summarize(rows)}


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def med(values: list[Any]) -> float | None:
        vals = [v for v in values if v is not None]
        return round(statistics.median(vals), 3) if vals else None

    out: dict[str, Any] = {}
    for mode in ("whole", "stream"):
        out[mode] = {"first_audio_ms": med([r[mode]["first_audio_ms"] for r in rows]),
                     "rtf": med([r[mode]["rtf"] for r in rows]),
                     "compute_ms_total": round(sum(r[mode]["compute_ms"] for r in rows), 1)}
        if "errors" in rows[0][mode]:
            out[mode]["wer_percent"] = round(100 * sum(r[mode]["errors"] for r in rows)
                                             / max(1, sum(r[mode]["words"] for r in rows)), 2)
        if "dnsmos" in rows[0][mode]:
            out[mode]["dnsmos_overall"] = round(statistics.fmean(r[mode]["dnsmos"] for r in rows), 3)
    out.update(lsd_db=med([r["lsd_db"] for r in rows]), floor_lsd_db=med([r["floor_lsd_db"] for r in rows]),
               loudness_first_min=min((r["loudness_first"] for r in rows if r["loudness_first"]), default=None),
               loudness_first_max=max((r["loudness_first"] for r in rows if r["loudness_first"]), default=None),
               loudness_min=min((r["loudness_min"] for r in rows if r["loudness_min"]), default=None),
               loudness_max=max((r["loudness_max"] for r in rows if r["loudness_max"]), default=None),
               clicks=sum(r["clicks"] for r in rows), joins=sum(len(r["stream"]["joins"]) for r in rows))
    return out


def markdown(res: dict[str, Any]) -> str:
    s = res["summary"]
    w, st = s["whole"], s["stream"]

    def get(d: dict[str, Any], k: str) -> str:
        return "—" if d.get(k) is None else str(d[k])

    return "\n".join([
        f"Kokoro whole call vs decoded in pieces ({len(res['rows'])} texts, engine only, nothing playing):", "",
        "| | first audio out (median) | RTF (median) | WER | DNSMOS overall |", "|---|---|---|---|---|",
        f"| whole call | {get(w, 'first_audio_ms')} ms | {get(w, 'rtf')} | {get(w, 'wer_percent')} % | "
        f"{get(w, 'dnsmos_overall')} |",
        f"| in pieces | {get(st, 'first_audio_ms')} ms | {get(st, 'rtf')} | {get(st, 'wer_percent')} % | "
        f"{get(st, 'dnsmos_overall')} |", "",
        f"Log-spectral distance from the whole call {s['lsd_db']} dB (median; the model's own floor, whole vs one "
        f"frame shorter: {s['floor_lsd_db']} dB). Loudness of the first 300 ms of voice "
        f"{s['loudness_first_min']}–{s['loudness_first_max']}× the whole call's (every 300 ms: "
        f"{s['loudness_min']}–{s['loudness_max']}×). Clicks at joins: {s['clicks']} of {s['joins']} "
        f"(a step > {CLICK_RATIO:.0f}× the whole call's largest step within ±4 ms of the same moment)."])


def run_kokoro_stream(out_dir: Path, n_texts: int = 15, wer: bool = True) -> dict[str, Any]:
    from ..core.pipeline import LocalSource
    from .remote import _machine
    from .wer import Transcriber, load_sentences

    src = LocalSource.load("kokoro")
    src.wait_ready(300)
    try:
        asr = Transcriber() if wer else None
        try:
            mos: Dnsmos | None = Dnsmos()
        except RuntimeError as exc:
            print(f"voicetrace bench: no DNSMOS ({exc})", file=sys.stderr)
            mos = None
        # the worker is idle (nothing submitted): its engine runs on this thread
        res = compare_modes(src.engine, load_sentences()[:n_texts], asr.transcribe if asr else None, mos)
    finally:
        src.stop()
    res["machine"] = _machine()
    save_results(out_dir, "kokoro_stream", res, markdown(res))
    return res
