"""Input validation and normalisation before phonemization (espeak reads "e.g." letter by letter)."""

from __future__ import annotations

import re
import unicodedata

from ..errors import UserError

MAX_TEXT_CHARS = 100_000  # about 15 000 words, an hour of speech; documented in README and --help

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # half a UTF-16 pair: not a character, and UTF-8 cannot encode it
_ABBREVIATIONS = {
    "e.g.": "for example", "i.e.": "that is", "etc.": "et cetera", "vs.": "versus",
    "Dr.": "Doctor", "Mr.": "Mister", "Mrs.": "Missus", "Ms.": "Miz", "Prof.": "Professor",
    "approx.": "approximately", "No.": "number",
}
_ABBR_RE = re.compile(r"(?<![\w.])(" + "|".join(re.escape(a) for a in _ABBREVIATIONS) + r")(?!\w)")
_MONEY_RE = re.compile(r"\$(\d{1,3}(?:,\d{3})*|\d+)(?:\.(\d{2}))?\b")
_PERCENT_RE = re.compile(r"(\d)\s?%")


def clean_input(text: str) -> str:
    """Validate user text: returns it with control characters removed; raises UserError when there is
    nothing to say or it is over the documented maximum."""
    if len(text) > MAX_TEXT_CHARS:
        raise UserError(f"text is {len(text):,} characters, over the maximum of {MAX_TEXT_CHARS:,}",
                        "split it into smaller parts")
    text = _CONTROL.sub(" ", unicodedata.normalize("NFC", _SURROGATE.sub(" ", text))).replace("\t", " ")
    if not text.strip():
        raise UserError("there is no text to speak", "type or paste some words")
    if not any(ch.isalnum() for ch in text):
        raise UserError("the text has no letters or digits to speak", "give words, not only punctuation")
    return text


def _money(m: re.Match[str]) -> str:
    dollars = m.group(1).replace(",", "")
    cents = m.group(2)
    words = f"{dollars} dollar" + ("" if dollars == "1" else "s")
    if cents and int(cents):
        words += f" {int(cents)} cent" + ("" if int(cents) == 1 else "s")
    return words


def normalize_for_speech(phrase: str) -> str:
    """Rewrite what espeak reads badly; keeps the meaning, not the characters."""
    s = _ABBR_RE.sub(lambda m: _ABBREVIATIONS[m.group(1)], phrase)
    s = _MONEY_RE.sub(_money, s)
    s = _PERCENT_RE.sub(r"\1 percent", s)
    s = s.replace("&", " and ")
    return " ".join(s.split())
