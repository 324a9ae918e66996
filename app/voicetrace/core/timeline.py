"""A request's chunk timeline from its trace, for drawing: per chunk its synthesis span and its playback
span on one axis (ms after submit), underruns, the cancel, and which phrase is being heard at a moment."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..contract import (
    BargeIn,
    Cancel,
    CancelAck,
    ChunkReady,
    Done,
    Failed,
    Pause,
    PhrasePlanned,
    Piece,
    Play,
    Resume,
    Submit,
    SynthEnd,
    SynthStart,
    Text,
    TraceEvent,
    Underrun,
)
from .metrics import text_waits


@dataclass
class Timeline:
    t0_ns: int
    rate: int
    synth: dict[int, tuple[float, float | None]] = field(default_factory=dict)  # index → (start, end or None)
    play: dict[int, tuple[float, float]] = field(default_factory=dict)  # index → (first DAC, last DAC end)
    underruns: list[float] = field(default_factory=list)  # DAC time of each (synthesis late)
    starved: list[float] = field(default_factory=list)  # DAC time of each dry block for want of text
    text_ms: list[float] = field(default_factory=list)  # streamed input: when each piece of text arrived
    phrases: dict[int, tuple[int, int, str]] = field(default_factory=dict)  # index → (first word, words, text)
    chunk_phrase: dict[int, int] = field(default_factory=dict)  # chunk index → its phrase (a phrase may be several)
    # phrase index → (start, end) ms on the axis of each of its words, where the engine timed them
    word_ms: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    total_words: int = 0
    cancel_ms: float | None = None
    speech_ms: float | None = None  # voice barge-in: when the user started talking (true onset)
    end_ms: float | None = None  # Done / CancelAck / Failed
    paused_at_ms: float | None = None  # playback is held from here (the first silent frame at the DAC)
    # TTFA as the metrics will record it, known from the first audible Play on: (callback ms, DAC ms)
    first_audio: tuple[float, float] | None = None

    def listener_at(self, now_ms: float) -> float:
        """Where the listener is on the axis: now, or just before the pause while playback is held."""
        return now_ms if self.paused_at_ms is None else min(now_ms, self.paused_at_ms - 0.001)

    def phrase_of(self, chunk: int) -> int:
        return self.chunk_phrase.get(chunk, chunk)

    def phrase_at(self, t_ms: float) -> int | None:
        """The phrase being heard at `t_ms`."""
        idx = self.chunk_at(t_ms)
        return None if idx is None else self.phrase_of(idx)

    def word_at(self, t_ms: float) -> tuple[int, int] | None:
        """(phrase, word index within it) being heard at `t_ms`, where the engine timed its words."""
        phrase = self.phrase_at(t_ms)
        if phrase is None:
            return None
        times = self.word_ms.get(phrase)
        if not times:
            return None
        # between two words (a pause) the last one begun; before the first, the first
        k = max([i for i, (a, _) in enumerate(times) if a <= t_ms], default=0)
        return phrase, k

    def chunk_at(self, t_ms: float) -> int | None:
        """The chunk whose audio reaches the DAC at `t_ms` (None in a gap or before first audio)."""
        for idx, (a, b) in self.play.items():
            if a <= t_ms < b:
                return idx
        return None

    def words_heard(self, t_ms: float) -> int:
        """Words heard by `t_ms`, up to the one the listener hears (the highlighted word; where the engine did
        not time its words, the whole phrase being heard); in a gap, those of the phrases played to their end."""
        phrase = self.phrase_at(t_ms)
        if phrase is not None and phrase in self.phrases:
            first, count, _ = self.phrases[phrase]
            word = self.word_at(t_ms)
            return first + (word[1] + 1 if word is not None and word[1] < count else count)
        done: dict[int, bool] = {}
        for i, (_, b) in self.play.items():  # a phrase is heard once all of its chunks have played
            p = self.phrase_of(i)
            done[p] = done.get(p, True) and b <= t_ms
        return sum(self.phrases[p][1] for p, ok in done.items() if ok and p in self.phrases)

    def audio_played_ms(self, t_ms: float) -> float:
        return sum(max(0.0, min(b, t_ms) - a) for a, b in self.play.values())


def build(events: list[TraceEvent]) -> Timeline | None:
    submit = events[0] if events else None
    if not isinstance(submit, Submit):
        return None
    t0 = submit.t_ns
    tl = Timeline(t0, submit.device_rate)

    def ms(t: int) -> float:
        return (t - t0) / 1e6

    ready = {e.index: e for e in events if isinstance(e, ChunkReady)}
    waits = text_waits(events, ready)  # the same split as the metrics: starvation or underrun
    timed: dict[int, list[tuple[int, int]]] = {}  # first chunk of a phrase → its words' sample spans

    for e in events:
        match e:
            case PhrasePlanned():
                tl.phrases[e.index] = (e.first_word, e.words, e.text)
                tl.total_words = e.total_words
            case SynthStart():
                tl.synth[e.index] = (ms(e.t_ns), None)
            case SynthEnd() if e.index in tl.synth:
                tl.synth[e.index] = (tl.synth[e.index][0], ms(e.t_ns))
            case Piece():
                tl.chunk_phrase[e.index] = e.phrase
                if e.word_times:
                    timed[e.index] = list(e.word_times)
            case Play() if e.n > 0:
                if tl.first_audio is None:
                    tl.first_audio = (ms(e.t_cb_ns), ms(e.dac_ns))
                if e.index in timed and tl.phrase_of(e.index) not in tl.word_ms:
                    start = ms(e.dac_ns) - e.chunk_offset * 1000 / tl.rate  # the chunk's sample 0 on the axis
                    tl.word_ms[tl.phrase_of(e.index)] = [(start + a * 1000 / tl.rate, start + b * 1000 / tl.rate)
                                                         for a, b in timed[e.index]]
                a = ms(e.dac_ns)
                b = a + e.n * 1000 / tl.rate
                old = tl.play.get(e.index)
                tl.play[e.index] = (min(a, old[0]), max(b, old[1])) if old else (a, b)
            case Underrun():
                (tl.starved if any(a <= e.t_ns < b for a, b in waits) else tl.underruns).append(ms(e.dac_ns))
            case Text() if e.piece:
                tl.text_ms.append(ms(e.t_ns))
            case Pause():
                tl.paused_at_ms = ms(e.dac_ns)
            case Resume() if tl.paused_at_ms is not None:
                # the words not yet heard when it paused are heard later by the length of the pause
                at, shift = tl.paused_at_ms, ms(e.dac_ns) - tl.paused_at_ms
                for phrase, words in tl.word_ms.items():
                    tl.word_ms[phrase] = [(a + shift, b + shift) if a >= at else (a, b) for a, b in words]
                tl.paused_at_ms = None
            case Cancel():
                tl.cancel_ms = ms(e.t_ns)
            case BargeIn():
                tl.speech_ms = ms(e.true_onset_ns)
            case Done() | CancelAck() | Failed():
                tl.end_ms = ms(e.t_ns)
    return tl
