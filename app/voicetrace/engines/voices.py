"""Kokoro voice specs: a name, or a blend `a(2)+b(1)` (weights normalised), as Kokoro-FastAPI writes them."""

from __future__ import annotations

import re

from ..errors import UserError

_PART = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*(?:\(\s*([0-9]*\.?[0-9]+)\s*\))?\s*$")


def parse_blend(spec: str, known: list[str]) -> list[tuple[str, float]]:
    """[(voice, weight)] with weights summing to 1; UserError naming the problem otherwise."""
    if not spec or not spec.strip():
        raise UserError("empty voice name", "choose one of: " + ", ".join(known))
    parts = []
    for raw in spec.split("+"):
        m = _PART.match(raw)
        if not m:
            raise UserError(f"malformed voice blend {spec!r}", "write it like jm_kumo(2)+jf_alpha(1)")
        name, weight = m.group(1), float(m.group(2) or 1.0)
        if name not in known:
            raise UserError(f"unknown voice {name!r}", "choose one of: " + ", ".join(known))
        if weight <= 0:
            raise UserError(f"voice weight for {name!r} must be positive", "write it like jm_kumo(2)+jf_alpha(1)")
        parts.append((name, weight))
    total = sum(w for _, w in parts)
    return [(n, w / total) for n, w in parts]
