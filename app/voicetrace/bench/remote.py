"""`voicetrace bench --suite remote`: what the network costs, measured in one run on one machine.

1. TTFA through `voicetrace serve` over loopback vs the same engine in-process: pairs of requests with the
   same text (never repeated within a path, so no phrase-cache hit), played on the same output device and
   measured at its callback; the remote TTFA is split into the server's part and the rest.
2. Cancel through the server: requests interrupted while they play; cancel → silence (local ring flush) and
   cancel → acknowledgement (the server's engine idle, as seen by the client).
3. Concurrent Piper streams: N WebSocket clients at once, each asking for a paragraph and checking its
   chunks against a real-time playout clock that starts at its first chunk (an underrun = a chunk that
   arrives after the audio before it has finished playing). The largest N with 0 underruns is reported.

The server runs as a separate process (`voicetrace serve`), as it would on a GPU box."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..contract import Play
from ..core.report import distribution

SENTENCES = [
    "Morning light settled over the quiet harbour town.", "Seven engineers argued about the new schedule.",
    "Bright orange kites drifted above the open field.", "Every library keeps a few books nobody reads.",
    "Fresh bread was cooling on the kitchen table.", "Heavy rain delayed the last train to the city.",
    "Quiet music played in the corner of the cafe.", "Under the bridge, the river moved slowly east.",
    "Tomorrow the committee will vote on the budget.", "Several birds gathered on the telephone wire.",
    "Yesterday's meeting ran almost an hour too long.", "Distant thunder rolled across the dark valley.",
    "Clever students found a shorter path to the answer.", "Warm soup is best on a cold winter evening.",
    "Nobody expected the little team to win the final.", "Paper lanterns glowed along the narrow street.",
    "Gentle waves washed over the smooth grey stones.", "Most travellers arrive at the station before noon.",
    "Green hills rolled away toward the far mountains.", "Loud applause followed the short final speech.",
]
PARAGRAPH = " ".join(SENTENCES[:12])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(engines: str, max_streams: int, schedule: str = "deadline") -> tuple[subprocess.Popen[bytes], int]:
    import httpx

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "voicetrace", "serve", "--port", str(port), "--engines", engines,
                             "--max-streams", str(max_streams), "--rate", "100000", "--schedule", schedule],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("voicetrace serve exited: " + (proc.stderr.read() if proc.stderr else b"").decode())
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()["status"] == "ok":
                return proc, port
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("voicetrace serve did not become ready in 180 s")


def _speak(session: Any, engine: str, text: str, voice: str | None, cancel_after_audio_s: float | None = None
           ) -> dict[str, Any]:
    req = session.submit(text, engine, voice)
    if cancel_after_audio_s is not None:
        deadline = time.monotonic() + 30
        while not req.trace.of(Play) and time.monotonic() < deadline and not req.finished.is_set():
            time.sleep(0.005)
        time.sleep(cancel_after_audio_s)
        session.cancel(req.id)
    return req.result(timeout=120).to_dict()


def ttfa_and_cancel(port: int, engines: list[str], repeat: int, device: str | None) -> dict[str, Any]:
    from ..audio.player import Player
    from ..core.pipeline import LocalSource
    from ..core.session import Session
    from ..remote.source import RemoteSource

    player = Player(device)
    player.start()
    out: dict[str, Any] = {}
    try:
        for eid in engines:
            local = LocalSource.load(eid)
            remote = RemoteSource(f"ws://127.0.0.1:{port}", model=eid).start()
            local.wait_ready(300)
            remote.wait_ready(30)
            voice = local.default_voice
            session = Session(player, {"local": local, "remote": remote})
            pairs = []
            for k in range(repeat):
                text = SENTENCES[k % len(SENTENCES)] + f" Number {k + 1}."
                loc = _speak(session, "local", text, voice)
                rem = _speak(session, "remote", text, voice)
                pairs.append({"local": loc, "remote": rem})
                print(f"  {eid} {k + 1}/{repeat}: TTFA local {loc['ttfa_audible_ms']} ms, remote "
                      f"{rem['ttfa_audible_ms']} ms (server {rem['server_ttfa_ms']}, rest {rem['network_ms']})",
                      file=sys.stderr)
            cancels = []
            for k in range(repeat):
                m = _speak(session, "remote", PARAGRAPH, voice, cancel_after_audio_s=0.5 + (k % 5) * 0.2)
                cancels.append(m)
            session.close()
            local.stop()
            remote.stop()
            loc_ttfa = [p["local"]["ttfa_audible_ms"] for p in pairs]
            rem_ttfa = [p["remote"]["ttfa_audible_ms"] for p in pairs]
            ratios = [r / ll for ll, r in zip(loc_ttfa, rem_ttfa, strict=True) if ll and r]
            out[eid] = {
                "ttfa_audible_local_ms": distribution(loc_ttfa),
                "ttfa_audible_remote_ms": distribution(rem_ttfa),
                "remote_over_local_ratio_median": round(statistics.median(ratios), 3) if ratios else None,
                "server_ttfa_ms": distribution(p["remote"]["server_ttfa_ms"] for p in pairs),
                "network_ms": distribution(p["remote"]["network_ms"] for p in pairs),
                "underruns_remote": sum(p["remote"]["underruns"] for p in pairs),
                "cancel_to_silence_ms": distribution(c["cancel_to_silence_ms"] for c in cancels),
                "cancel_to_ack_ms": distribution(c["cancel_to_idle_ms"] for c in cancels),
                "cancel_outcomes": [c["outcome"] for c in cancels],
                "stale_samples": sum(c["stale_samples_after_cancel"] for c in cancels),
                "raw": {"pairs": pairs, "cancels": cancels},
            }
    finally:
        player.close()
    return out


async def _one_stream(url: str, rid: str, text: str, voice: str) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    from ..remote.protocol import RATE, unpack_frame

    t0 = time.perf_counter()
    arrivals: list[tuple[float, int]] = []  # (arrival s after start, samples)
    async with connect(url + "/v1/stream", max_size=4 * 1024 * 1024) as ws:
        await ws.send(json.dumps({"type": "start", "request_id": rid, "text": text, "voice": voice}))
        async for msg in ws:
            if isinstance(msg, bytes):
                f = unpack_frame(msg)
                arrivals.append((time.perf_counter() - t0, len(f.pcm) // 2))
                continue
            d = json.loads(msg)
            if d["type"] in ("done", "error"):
                if d["type"] == "error":
                    return {"error": d["message"]}
                break
    # real-time playout from the first chunk: chunk k must arrive before the audio ahead of it has played
    start = arrivals[0][0]
    ends_at: float | None = None  # when the audio received so far finishes playing
    underruns, gap, played = 0, 0.0, 0.0
    for t, n in arrivals:
        if ends_at is None:
            ends_at = t
        elif t > ends_at:
            underruns += 1
            gap += t - ends_at
            ends_at = t
        ends_at += n / RATE
        played += n / RATE
    return {"ttfa_s": start, "underruns": underruns, "gap_ms": round(gap * 1000, 1), "audio_s": round(played, 2)}


async def _concurrent(url: str, n: int, voice: str) -> list[dict[str, Any]]:
    # each stream opens with its own number, so no first phrase is a phrase-cache hit from another stream
    texts = [f"Request {next(_OPENERS)}. " + " ".join(SENTENCES[(k + i) % len(SENTENCES)] for i in range(12))
             for k in range(n)]
    return list(await asyncio.gather(*(_one_stream(url, f"c{n}-{k}", texts[k], voice) for k in range(n))))


_OPENERS = itertools.count(101)


def concurrency(port: int, levels: list[int], trials: int = 2) -> dict[str, Any]:
    """Each level `trials` times; a level passes when every trial had 0 underruns and no error. Stops after
    two failing levels in a row."""
    import httpx

    voice = next(v["id"] for v in httpx.get(f"http://127.0.0.1:{port}/v1/voices").json()["voices"]
                 if v["engine"] == "piper")
    out: dict[str, Any] = {"levels": {}, "max_streams_without_underrun": 0, "trials": trials}
    failed_in_row = 0
    for n in levels:
        runs = [asyncio.run(_concurrent(f"ws://127.0.0.1:{port}", n, voice)) for _ in range(trials)]
        res = [r for run in runs for r in run]
        errors = [r["error"] for r in res if "error" in r]
        ok = [r for r in res if "error" not in r]
        unders = sum(r["underruns"] for r in ok)
        out["levels"][n] = {"errors": errors, "underruns": unders,
                            "first_chunk_ms": distribution(r["ttfa_s"] * 1000 for r in ok),
                            "gap_ms_total": round(sum(r["gap_ms"] for r in ok), 1)}
        print(f"  {n} concurrent Piper streams × {trials}: {unders} underruns, first chunk median "
              f"{out['levels'][n]['first_chunk_ms']['median']} ms, errors {len(errors)}", file=sys.stderr)
        if unders == 0 and not errors:
            out["max_streams_without_underrun"] = n
            failed_in_row = 0
        else:
            failed_in_row += 1
            if failed_in_row == 2:
                break
    return out


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def run_remote_suite(engines: list[str], repeat: int, out_dir: Path, device: str | None,
                     levels: list[int]) -> dict[str, Any]:
    proc, port = start_server(",".join(engines), max([*levels, 8]))
    try:
        results: dict[str, Any] = {"machine": _machine(),
                                   "ttfa_cancel": ttfa_and_cancel(port, engines, repeat, device)}
    finally:
        _stop(proc)
    if "piper" in engines:
        # The scheduling lever, before/after in one run: a fresh server each, Piper only.
        for schedule in ("fifo", "deadline"):
            print(f"concurrency, schedule {schedule}:", file=sys.stderr)
            proc, port = start_server("piper", max([*levels, 8]), schedule)
            try:
                results[f"concurrency_piper_{schedule}"] = concurrency(port, levels)
            finally:
                _stop(proc)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "remote.json").write_text(json.dumps(results, indent=1))
    print(summary_table(results))
    return results


def summary_table(r: dict[str, Any]) -> str:
    lines = [f"remote backend over loopback — {r['machine']}", "",
             "| engine | TTFA audible local (median) | through the server (median) | ratio | server part | "
             "rest (network, framing) | cancel→silence median/p95 | cancel→ack median/p95 | stale |",
             "|---|---|---|---|---|---|---|---|---|"]
    for eid, e in r["ttfa_cancel"].items():
        lines.append(f"| {eid} | {e['ttfa_audible_local_ms']['median']} ms | {e['ttfa_audible_remote_ms']['median']} ms"
                     f" | {e['remote_over_local_ratio_median']}× | {e['server_ttfa_ms']['median']} ms | "
                     f"{e['network_ms']['median']} ms | {e['cancel_to_silence_ms']['median']} / "
                     f"{e['cancel_to_silence_ms']['p95']} ms | {e['cancel_to_ack_ms']['median']} / "
                     f"{e['cancel_to_ack_ms']['p95']} ms | {e['stale_samples']} |")
    for schedule in ("fifo", "deadline"):
        c = r.get(f"concurrency_piper_{schedule}")
        if not c:
            continue
        lines += ["", f"concurrent Piper streams, schedule {schedule}: most with 0 client underruns in "
                  f"{c['trials']} trials = {c['max_streams_without_underrun']}"]
        for n, lv in c["levels"].items():
            fc = lv["first_chunk_ms"]
            lines.append(f"  {n} streams: underruns {lv['underruns']} ({lv['gap_ms_total']} ms of gaps), "
                         f"first chunk median {fc['median']} / max {fc['max']} ms")
    return "\n".join(lines)


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"
