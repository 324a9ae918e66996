"""Text that arrives in pieces (a language model's reply, a pipe): `feed(text)`, `flush()`, `end()`.

The planner may only cut at edges the next characters cannot change, so the feed hands out *settled* words:
a word is settled once whitespace follows it (then no later character can join it: "remem" + "ber" stays one
word, "$3." + "5" is "$3.5", "98." + "6" is "98.6", and "Dr." + " Smith" is the abbreviation "Dr." followed by
a word, which the planner never ends a sentence on). `flush()` settles everything sent so far (the sender
says it is complete), `end()` says no more text will come. Thread-safe: one writer, one reader."""

from __future__ import annotations

import re
import threading
import time
import unicodedata

from ..errors import UserError
from .normalize import MAX_TEXT_CHARS
from .planner import PARAGRAPH, Word, break_after

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_TOKEN = re.compile(r"\S+|\n\s*\n")


class TextFeed:
    def __init__(self, text: str | None = None) -> None:
        """With `text`: the whole text at once (complete). Without: open, fed piece by piece."""
        self._cond = threading.Condition()
        self._raw = ""
        self._settle = 0  # raw[:_settle] is settled
        self._parsed = 0  # raw[:_parsed] has been split into `_words`
        self._words: list[Word] = []
        self.complete = False
        self.flushes = 0
        self.version = 0  # bumps on every change, for waiters
        self.t_last_ns = 0  # when the last piece arrived (perf_counter_ns)
        self.last_piece = ""
        if text is not None:
            self.feed(text)
            self.end()

    # ---- the writer ----------------------------------------------------------------------------------
    def feed(self, text: str, t_ns: int | None = None) -> None:
        """Append a piece; `t_ns`: when it arrived (perf_counter_ns; default now)."""
        if not isinstance(text, str):
            raise UserError(f"text must be a string, not {type(text).__name__}", "send the text as a string")
        with self._cond:
            if self.complete:
                raise UserError("this request's text has ended", "open a new request to say more")
            if len(self._raw) + len(text) > MAX_TEXT_CHARS:
                raise UserError(f"the text is over the maximum of {MAX_TEXT_CHARS:,} characters",
                                "end this request and start another")
            clean = _CONTROL.sub(" ", unicodedata.normalize("NFC", text)).replace("\t", " ")
            self._raw += clean
            last_ws = max(self._raw.rfind(" "), self._raw.rfind("\n"))
            self._settle = max(self._settle, last_ws + 1)
            self.t_last_ns = time.perf_counter_ns() if t_ns is None else t_ns
            self.last_piece = text
            self._changed()

    def flush(self) -> None:
        """Everything sent so far is complete: the planner may speak it now, the last word included."""
        with self._cond:
            self._settle = len(self._raw)
            self.flushes += 1
            self._changed()

    def end(self) -> None:
        with self._cond:
            self._settle = len(self._raw)
            self.complete = True
            self._changed()

    def _changed(self) -> None:
        self.version += 1
        self._cond.notify_all()

    # ---- the reader ----------------------------------------------------------------------------------
    def settled_words(self) -> list[Word]:
        """Every settled word so far, in order (a word's break strength may still rise to a paragraph break
        when a blank line follows it; nothing else about a settled word changes)."""
        with self._cond:
            if self._settle > self._parsed:
                chunk = self._raw[self._parsed:self._settle]
                end = 0
                for m in _TOKEN.finditer(chunk):
                    tok = m.group(0)
                    if tok.strip():
                        self._words.append(Word(tok, break_after(tok)))
                    elif self._words:  # a blank line: a paragraph break after the word before it
                        self._words[-1] = Word(self._words[-1].text, PARAGRAPH)
                    end = m.end()
                # Parse again from the end of the last token: whitespace after it may become a blank line.
                self._parsed += end
            return list(self._words)

    def wait(self, version: int, timeout: float) -> int:
        """Block until something changed since `version` (or `timeout`); returns the version now."""
        with self._cond:
            if self.version == version:
                self._cond.wait(timeout)
            return self.version

    @property
    def text(self) -> str:
        with self._cond:
            return self._raw


_PIECE = re.compile(r"\s*[\w'’]+|\s*[^\w\s]")


def token_pieces(text: str) -> list[str]:
    """Text cut the way a language model's tokenizer roughly cuts it: a word with its leading space, long
    words in two, punctuation apart (for simulating a model's stream; joined, the pieces are the text less
    trailing whitespace)."""
    out: list[str] = []
    for m in _PIECE.finditer(text):
        tok = m.group(0)
        word = tok.lstrip()
        if len(word) > 7:
            cut = len(tok) - len(word) + len(word) // 2
            out += [tok[:cut], tok[cut:]]
        else:
            out.append(tok)
    return out
