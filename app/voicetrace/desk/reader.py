"""The reader: which text in the editor is being read aloud, where the listener is in it, and where Skip
(Alt+→ / Alt+←) and Start here (Ctrl+Shift+Enter) start. No Qt: the window hands it the editor's text and
positions, and paints the span it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..core.timeline import Timeline
from ..text.normalize import clean_input
from ..text.planner import sentence_starts, word_spans


@dataclass(frozen=True)
class Spoken:
    """A request whose text is in the editor."""
    request_id: str
    offset: int  # where its text starts in the editor
    text: str | None  # the text submitted; None: a model's reply, as long as the editor holds it


def skip_target(text: str, pos: int, end: int, step: int) -> int | str:
    """The start of the sentence `step` sentences from the one at `pos` (among those before `end`), or why there
    is none."""
    starts = [a for a in sentence_starts(text) if a < end]
    if not starts:
        return "there is no text to read"
    here = max((k for k, a in enumerate(starts) if a <= pos), default=0)
    k = here + step
    if k >= len(starts):
        return "that was the last sentence"
    return starts[max(0, k)]


def sentence_start(text: str, pos: int) -> int:
    """The start of the sentence `pos` is in."""
    return max((a for a in sentence_starts(text) if a <= pos), default=0)


class Reader:
    """What is being read and the span heard now. Kept on the Qt thread (the window's tick updates it)."""

    def __init__(self) -> None:
        self.spoken: Spoken | None = None
        self.spans: list[tuple[int, int]] = []  # word index → span in the text submitted
        self.highlight: tuple[int, int] | None = None  # the span heard now, in the editor
        self.edited_since_speak = False  # the editor no longer holds what is spoken: no highlight

    def read_text(self, request_id: str, offset: int, text: str) -> None:
        """`text`, found at `offset` in the editor, was submitted (the session speaks it cleaned)."""
        cleaned = clean_input(text)
        self.spoken = Spoken(request_id, offset, cleaned)
        # Words map back to the editor only where cleaning kept every character in place.
        self.spans = word_spans(cleaned) if len(cleaned) == len(text) else []
        self.edited_since_speak = False

    def read_stream(self, request_id: str, offset: int, text: str | None) -> None:
        """`text` will be fed as it comes (None: a model's reply, appended to the editor)."""
        self.spoken = Spoken(request_id, offset, text)
        self.spans = word_spans(text) if text is not None else []
        self.edited_since_speak = False

    def position(self, text_len: int, cursor: int, busy: bool) -> tuple[int, int]:
        """(where the listener is in the editor, where the text being read ends): the word being heard while the
        editor still holds what is spoken, else the cursor and the end of the text."""
        end = text_len
        spoken = self.spoken
        if not busy or spoken is None or self.edited_since_speak:
            return cursor, end
        if spoken.text is not None:
            end = min(end, spoken.offset + len(spoken.text))
        return (self.highlight[0] if self.highlight is not None else spoken.offset), end

    def follow(self, request_id: str, tl: Timeline, listener_ms: float, editor_text: Callable[[], str]) -> bool:
        """Move the highlight to the phrase (or, where the engine timed words, the word) heard at `listener_ms`
        of request `request_id`, if the editor still holds its text. True when the highlight moved."""
        span: tuple[int, int] | None = None
        spoken = self.spoken
        if spoken is not None and spoken.request_id == request_id and not self.edited_since_speak \
                and tl.end_ms is None:
            idx = tl.phrase_at(listener_ms)
            if spoken.text is None:  # a model's reply: its words are the editor's, as far as it has come
                self.spans = word_spans(editor_text())
            if idx is not None and idx in tl.phrases and self.spans:
                first, count, _ = tl.phrases[idx]
                word = tl.word_at(listener_ms)  # the word being heard, where the engine timed words (Kokoro)
                if word is not None and word[1] < count:
                    first, count = first + word[1], 1
                if first + count <= len(self.spans):
                    span = (self.spans[first][0] + spoken.offset, self.spans[first + count - 1][1] + spoken.offset)
        if span == self.highlight:
            return False
        self.highlight = span
        return True
