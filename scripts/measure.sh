#!/usr/bin/env bash
# README figures: full runs of the ~150-word paragraph (TTFA, RTF, underruns, RSS) and barge-in runs
# (cancel latencies), each engine warm, on whatever device is default (the JACK dummy in CI/dev).
set -u
out=${1:-/tmp/voicetrace-measure}; full=${FULL_RUNS:-3}; cancels=${CANCEL_RUNS:-10}
mkdir -p "$out"
for eng in ${ENGINES:-piper kokoro}; do
  for i in $(seq "$full"); do .venv/bin/voicetrace speak --engine "$eng" --json -f assets/paragraph_150.txt >> "$out/$eng-full.jsonl"; done
  for i in $(seq "$cancels"); do
    at=$(python3 -c "import random; print(round(random.uniform(0.8, 3.0), 2))")
    .venv/bin/voicetrace speak --engine "$eng" --json --cancel-after "$at" -f assets/paragraph_150.txt >> "$out/$eng-cancel.jsonl"
  done
done
python3 - "$out" <<'PY'
import json, statistics as st, sys, pathlib
d = pathlib.Path(sys.argv[1])
def med(xs): xs=[x for x in xs if x is not None]; return round(st.median(xs),3) if xs else None
def mx(xs): xs=[x for x in xs if x is not None]; return round(max(xs),1) if xs else None
for eng in [e for e in ("piper", "kokoro") if (d / f"{e}-full.jsonl").exists()]:
    full = [json.loads(l) for l in (d / f"{eng}-full.jsonl").read_text().splitlines()]
    can = [json.loads(l) for l in (d / f"{eng}-cancel.jsonl").read_text().splitlines()]
    print(eng, f"runs={len(full)} cancels={len(can)}",
          "ttfa_cb", med([m["ttfa_callback_ms"] for m in full]), "ttfa_aud", med([m["ttfa_audible_ms"] for m in full]),
          "ttfa_voiced", med([m["ttfa_voiced_ms"] for m in full]), "rtf", med([m["rtf"] for m in full]),
          "underruns", sum(m["underruns"] for m in full), "rss", med([m["peak_rss_mb"] for m in full]),
          "c2s_med", med([m["cancel_to_silence_ms"] for m in can]), "c2s_max", mx([m["cancel_to_silence_ms"] for m in can]),
          "c2i_med", med([m["cancel_to_idle_ms"] for m in can]), "c2i_max", mx([m["cancel_to_idle_ms"] for m in can]),
          "stale", sum(m["stale_samples_after_cancel"] for m in can),
          "ttfa_aud_cancelruns", med([m["ttfa_audible_ms"] for m in can]))
PY
