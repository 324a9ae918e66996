"""`voicetrace bench --suite levers`: the performance levers, each with before/after, one run, one machine.

- onnxruntime session options (offline, per engine): threads, spinning, graph optimisation level — load time,
  first-phrase compute, RTF; and loading a saved optimised graph instead of optimising at every start.
- Chunking: fixed-size phrases vs the planner driven by the engine's measured cost (played, paragraph).
- The phrase-audio cache: TTFA of a short reply on a miss and on a hit (played).
- Memory: peak RSS of a process with each engine, and both, after speaking the paragraph (separate processes).
- Kokoro whole call vs decoded in pieces (`kokoro_stream.py`): first audio, RTF, LSD, loudness, clicks, WER,
  DNSMOS.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..core.report import distribution
from .baselines import BaselineSource, Chunking, uncached
from .files import save_results

FIRST = "When people"
SENTENCE = "When people ask a question they judge the answer by how quickly the first word arrives."
REPLIES = ("Sure.", "One moment.", "Let me check.")
ORT_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("app default: 2 threads, no spinning, all graph optimisations", {}),
    ("1 thread", {"threads": 1}),
    ("spinning thread pool", {"spinning": True}),
    ("basic graph optimisation only", {"opt_level": "basic"}),
]


def _ort_lever(engine_id: str, repeat: int) -> list[dict[str, Any]]:
    from ..engines import create_engine
    from ..engines.catalog import find_model

    rows = []
    for name, tuning in ORT_VARIANTS:
        eng = create_engine(find_model(engine_id))
        eng.tuning = dict(tuning)
        eng.load()
        eng.warm()
        first = [eng.synthesize(FIRST, eng.default_voice, 1.0, use_cache=False).compute_ns / 1e6
                 for _ in range(repeat)]
        sent = [eng.synthesize(SENTENCE, eng.default_voice, 1.0, use_cache=False) for _ in range(repeat)]
        rtf = [r.compute_ns / 1e9 / (len(r.audio) / r.rate) for r in sent]
        rows.append({"variant": name, "load_ms": round(eng.load_ms or 0, 1),
                     "first_phrase_compute_ms": round(statistics.median(first), 1),
                     "rtf": round(statistics.median(rtf), 4)})
        print(f"  {engine_id}: {name}: {rows[-1]}", file=sys.stderr)
    rows.append(_saved_graph_lever(engine_id))
    return rows


def _saved_graph_lever(engine_id: str) -> dict[str, Any]:
    """Session load time: optimising the graph at every start vs loading a graph saved already optimised."""
    import onnxruntime as ort

    from ..engines.catalog import find_model

    src = str(find_model(engine_id).path("model"))
    with tempfile.TemporaryDirectory() as tmp:
        saved = str(Path(tmp) / "optimised.onnx")

        def load(path: str, level: Any, out: str | None = None) -> float:
            opts = ort.SessionOptions()
            opts.graph_optimization_level = level
            if out:
                opts.optimized_model_filepath = out
            t = time.perf_counter()
            ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
            return (time.perf_counter() - t) * 1000

        load(src, ort.GraphOptimizationLevel.ORT_ENABLE_ALL, saved)  # writes the optimised graph
        fresh = statistics.median(load(src, ort.GraphOptimizationLevel.ORT_ENABLE_ALL) for _ in range(3))
        reuse = statistics.median(load(saved, ort.GraphOptimizationLevel.ORT_DISABLE_ALL) for _ in range(3))
    return {"variant": "saved optimised graph (session load only)", "load_ms": round(reuse, 1),
            "baseline_load_ms": round(fresh, 1), "first_phrase_compute_ms": None, "rtf": None}


def _played_levers(engines: list[str], repeat: int, device: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    from ..core.pipeline import planner_config_for
    from ..core.session import Session
    from .compare import _run_one, _warm_engines_and_device, load_texts

    paragraph = load_texts(["paragraph"])["paragraph"]
    workers, player = _warm_engines_and_device(engines, device)
    chunking: dict[str, Any] = {}
    cache: dict[str, Any] = {}
    try:
        for eid, w in workers.items():
            base = planner_config_for(w.engine.entry.engine)
            chunking[eid] = {}
            fixed = BaselineSource(w.worker, Chunking("fixed", fixed_words=8), base, abortable=True,
                                   stream_phrase=w.stream_phrase)
            for name, src in (("fixed 8-word phrases", fixed),
                              ("cost-model planner (app)", w.sharing(base))):
                session = Session(player, {eid: src})
                try:
                    ms = [_run_one(session, eid, paragraph, w.engine.default_voice, 15.0, None) for _ in range(repeat)]
                finally:
                    session.close()
                chunking[eid][name] = {"ttfa_audible_ms": distribution(m["ttfa_audible_ms"] for m in ms)["median"],
                                       "underruns": sum(m["underruns"] for m in ms),
                                       "underrun_ms": round(sum(m["underrun_ms"] for m in ms), 1), "runs": repeat}
                print(f"  {eid}: {name}: {chunking[eid][name]}", file=sys.stderr)
            session = Session(player, {eid: w.sharing()})
            for c in w.engine.caches():
                c.clear()
            w.engine.caches_phrases = True
            try:
                miss, hit = [], []
                for text in REPLIES:
                    m1 = _run_one(session, eid, text, w.engine.default_voice, 15.0, None)
                    m2 = _run_one(session, eid, text, w.engine.default_voice, 15.0, None)
                    assert m2["first_chunk_cached"], "the second identical reply must come from the cache"
                    miss.append(m1["ttfa_audible_ms"])
                    hit.append(m2["ttfa_audible_ms"])
            finally:
                session.close()
                w.engine.caches_phrases = False
            cache[eid] = {"replies": list(REPLIES), "miss_ttfa_audible_ms": miss, "hit_ttfa_audible_ms": hit}
            print(f"  {eid}: phrase cache: {cache[eid]}", file=sys.stderr)
    finally:
        player.close()
        for w in workers.values():
            w.stop()
    return chunking, cache


def _memory_lever() -> dict[str, float]:
    out = {}
    for engines in ("piper", "kokoro", "piper,kokoro"):
        p = subprocess.run([sys.executable, "-m", "voicetrace.bench.levers", "peak-rss", engines],
                           capture_output=True, text=True, timeout=600)
        out[engines] = float(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else float("nan")
        print(f"  peak RSS {engines}: {out[engines]} MB", file=sys.stderr)
    return out


def peak_rss_after_paragraph(engines: list[str]) -> float:
    """Load and warm the engines, produce the paragraph with the app's planner (no device), return peak RSS MB."""
    from ..core.pipeline import LocalSource
    from ..core.session import Session
    from ..core.sink import StreamSink
    from .compare import load_texts

    text = load_texts(["paragraph"])["paragraph"]
    for eid in engines:
        src = LocalSource.load(eid)
        src.wait_ready(300)
        uncached(src)
        # nobody takes the chunks: the planner plans as if the audio queued in the sink were buffered
        sink = StreamSink(24_000, max_unsent=1 << 20)
        session = Session(sink, {eid: src.sharing()})
        try:
            session.submit(text, eid).result(timeout=600)
        finally:
            session.close()
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child of a 1 GB bench reported 1 GB.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_levers(engines: list[str], repeat: int, out_dir: Path, device: str | None) -> dict[str, Any]:
    from .remote import _machine

    res: dict[str, Any] = {"machine": _machine(), "repeat": repeat,
                           "ort": {e: _ort_lever(e, max(repeat, 3)) for e in engines}}
    res["chunking"], res["phrase_cache"] = _played_levers(engines, repeat, device)
    res["peak_rss_mb"] = _memory_lever()
    if "kokoro" in engines:  # whole call vs decoded in pieces: its own file too (kokoro_stream.md)
        from .kokoro_stream import run_kokoro_stream

        res["kokoro_stream"] = run_kokoro_stream(out_dir, n_texts=8)
    save_results(out_dir, "levers", res, markdown(res))
    return res


def markdown(res: dict[str, Any]) -> str:
    def ms(x: float | None) -> str:
        return "—" if x is None else f"{x:.0f} ms"

    lines = [f"levers — {res['machine']}", "", "onnxruntime session options (offline; compute of the first phrase "
             f"“{FIRST}” and RTF of one sentence, medians):", "",
             "| engine | variant | session load | first phrase compute | RTF |", "|---|---|---|---|---|"]
    for eid, rows in res["ort"].items():
        for r in rows:
            load = ms(r["load_ms"]) + (f" (vs {ms(r['baseline_load_ms'])} optimising at start)"
                                       if "baseline_load_ms" in r else "")
            lines.append(f"| {eid} | {r['variant']} | {load} | {ms(r['first_phrase_compute_ms'])} | "
                         f"{'—' if r['rtf'] is None else r['rtf']} |")
    lines += ["", "Chunking (paragraph, played, each run up to 15 s):", "",
              "| engine | chunking | TTFA audible median | underruns (gap ms) |", "|---|---|---|---|"]
    for eid, by in res["chunking"].items():
        for name, v in by.items():
            lines.append(f"| {eid} | {name} | {ms(v['ttfa_audible_ms'])} | {v['underruns']} ({v['underrun_ms']}) |")
    lines += ["", "Phrase-audio cache (TTFA audible of a short reply):", "",
              "| engine | reply | miss | hit |", "|---|---|---|---|"]
    for eid, c in res["phrase_cache"].items():
        for t, a, b in zip(c["replies"], c["miss_ttfa_audible_ms"], c["hit_ttfa_audible_ms"], strict=True):
            lines.append(f"| {eid} | {t} | {ms(a)} | {ms(b)} |")
    lines += ["", "Peak RSS after speaking the paragraph: " + ", ".join(
        f"{k} {v:.0f} MB" for k, v in res["peak_rss_mb"].items())]
    if "kokoro_stream" in res:
        from .kokoro_stream import markdown as stream_markdown

        lines += ["", stream_markdown(res["kokoro_stream"])]
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["peak-rss"]:
        print(f"{peak_rss_after_paragraph(sys.argv[2].split(',')):.1f}")
