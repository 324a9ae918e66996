"""Where a suite's results go: `<stem>.json` (the raw record) and `<stem>.md` (the report, also printed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_results(out_dir: Path, stem: str, res: dict[str, Any], report: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{stem}.json").write_text(json.dumps(res, indent=1))
    (out_dir / f"{stem}.md").write_text(report)
    print(report)
