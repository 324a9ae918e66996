"""The bad-input corpus: text, speed and voice a user (or a client of the server) might send. Each case says
what must happen: `speech` (spoken; unspeakable parts may be skipped and reported), `error` (one clear
message, with `needle` in it) — never a traceback, a hang or a crash, and the next request still works."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    expect: str  # speech | error
    needle: str = ""  # part of the error message
    speed: float = 1.0
    voice: str | None = None  # None: the engine's default


LONG_SENTENCE = " ".join(["word"] * 600)  # no punctuation at all: the planner must still split it

CASES = [
    Case("empty", "", "error", "no text"),
    Case("whitespace only", "   \t   ", "error", "no text"),
    Case("line breaks only", "\n\n\r\n\n", "error", "no text"),
    Case("zero-width characters only", "\u200b\u200b\ufeff\u2060", "error", "no letters"),
    Case("punctuation only", "?!...;:--", "error", "no letters"),
    Case("emoji only", "😀🎉👍", "error", "no letters"),
    Case("one character", "a", "speech"),
    Case("one digit", "7", "speech"),
    Case("digits only", "1234567890 9876543210", "speech"),
    Case("1 MB of text", "word " * 210_000, "error", "over the maximum"),
    Case("just over the maximum", "x" * 100_001, "error", "over the maximum"),
    Case("one 10 000-character word", "a" * 10_000, "speech"),
    Case("600 words without punctuation", LONG_SENTENCE, "speech"),
    Case("URL", "See https://example.com/path?q=1&r=2#top for details.", "speech"),
    Case("e-mail address", "Write to someone@example.org today.", "speech"),
    Case("emoji inside words", "Great job 🎉 everyone, thanks 👍", "speech"),
    Case("right-to-left Arabic", "مرحبا بالعالم", "speech"),
    Case("right-to-left Hebrew", "שלום עולם", "speech"),
    Case("CJK for an English voice", "你好世界。今日は良い天気です。", "speech"),
    Case("mixed scripts", "Hello мир, hello κόσμε, hello world.", "speech"),
    Case("control characters and an ANSI escape", "Hello\x07\x1b[31m world\x1b[0m again.", "speech"),
    Case("NUL bytes", "a\x00b\x00c and more", "speech"),
    Case("lone surrogate", "abc\ud800def ghi", "speech"),
    Case("SSML-looking tags", "<speak><break time='1s'/>Hello <emphasis>there</emphasis></speak>", "speech"),
    Case("unbalanced quotes", 'He said "hello and left (without closing', "speech"),
    Case("combining marks", "Z\u0337\u0322a\u0335l\u0334g\u0336o text here", "speech"),
    Case("math symbols", "∑ ∫ √ ∞ ≠ ≈ are symbols, x² + y² = z²", "speech"),
    Case("money, percent, abbreviations", "Dr. Smith paid $42.50, e.g. 15% vs. Mr. Jones etc.", "speech"),
    Case("repeated punctuation", "Wait...... what?!?!?! No way!!!", "speech"),
    Case("tabs and odd spacing", "col1\tcol2\t\tcol3     end", "speech"),
    Case("fastest speed", "Speaking at the fastest speed allowed.", "speech", speed=2.0),
    Case("slowest speed", "Slow.", "speech", speed=0.5),
    Case("speed too fast", "Too fast.", "error", "speed", speed=100.0),
    Case("negative speed", "Backwards.", "error", "speed", speed=-1.0),
    Case("NaN speed", "Not a number.", "error", "speed", speed=float("nan")),
    Case("infinite speed", "Infinity.", "error", "speed", speed=float("inf")),
    Case("unknown voice", "Hello.", "error", "unknown voice", voice="nobody"),
    Case("path as voice", "Hello.", "error", "voice", voice="../../../etc/passwd"),
    Case("malformed blend", "Hello.", "error", "voice", voice="jm_kumo(2)+"),
    Case("blend with an unknown voice", "Hello.", "error", "voice", voice="jm_kumo(1)+nobody(1)"),
    Case("blend with a zero weight", "Hello.", "error", "voice", voice="jm_kumo(0)"),
]
