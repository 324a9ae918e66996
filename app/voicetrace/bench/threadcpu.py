"""CPU time as the OS counts it (Linux /proc): per thread of a process, and of a whole process. The window's Qt
thread is its main thread, whose thread id is the process id."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def ticks(stat_path: str) -> int:
    """utime + stime of a /proc …/stat file, in clock ticks (the name field may hold spaces: split after it)."""
    fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


@dataclass(frozen=True)
class Sample:
    t: float  # time.monotonic()
    threads: dict[tuple[int, str], int]  # (thread id, name) → ticks
    others: dict[int, int]  # other processes watched (the X server) → ticks


def sample(pid: int, others: tuple[int, ...] = ()) -> Sample:
    per: dict[tuple[int, str], int] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            per[(int(tid), name)] = ticks(f"/proc/{pid}/task/{tid}/stat")
        except OSError:  # the thread ended between the listing and the read
            pass
    return Sample(time.monotonic(), per, {p: ticks(f"/proc/{p}/stat") for p in others})


def usage(a: Sample, b: Sample, pid: int) -> dict[str, object]:
    """Between two samples, in % of one core: the main (Qt) thread, the whole process (threads that ended in
    between are not counted), each watched process, and the five busiest threads."""
    wall = b.t - a.t
    per = {k: 100 * (v - a.threads.get(k, 0)) / TICK / wall for k, v in b.threads.items()}
    main = next((v for (tid, _), v in per.items() if tid == pid), 0.0)
    top = sorted(per.items(), key=lambda kv: -kv[1])[:5]
    return {"wall_s": round(wall, 1), "qt_pct": round(main, 1), "process_pct": round(sum(per.values()), 1),
            "others_pct": {str(p): round(100 * (b.others[p] - a.others.get(p, 0)) / TICK / wall, 1)
                           for p in b.others},
            "top_threads": {f"{name}#{tid}": round(v, 1) for (tid, name), v in top}}
