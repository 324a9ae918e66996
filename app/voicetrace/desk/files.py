"""The window's file I/O, without Qt: a text file opened into the editor, the records exported as CSV or JSON."""

from __future__ import annotations

import json
from pathlib import Path

from ..contract import RequestMetrics
from ..core.report import to_csv
from ..errors import UserError
from ..text.normalize import MAX_TEXT_CHARS

MAX_FILE_BYTES = MAX_TEXT_CHARS * 4  # UTF-8 worst case: anything bigger cannot be under the limit


def read_text_file(path: str) -> str:
    """A .txt/.md file as text, or UserError saying why not."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UserError(f"{p.name} is {size / 1e6:.1f} MB, over the maximum of {MAX_TEXT_CHARS:,} characters",
                            "open a smaller part of it")
        raw = p.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {p.name} ({exc.strerror})", "check the file and its permissions") from exc
    if b"\x00" in raw:
        raise UserError(f"{p.name} is a binary file, not text", "open a .txt or .md file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{p.name} is not UTF-8 text (bad byte at offset {exc.start})", "save it as UTF-8") from exc


def export_records(path: str, records: list[RequestMetrics], kind: str) -> None:
    """The records as CSV (`kind` "csv") or JSON into `path`. Raises OSError."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        if kind == "csv":
            fh.write(to_csv(records))
        else:
            json.dump([r.to_dict() for r in records], fh, indent=1)
