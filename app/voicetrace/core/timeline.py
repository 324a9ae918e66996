"""A request's chunk timeline from its trace, for drawing: per chunk its synthesis span and its playback
span on one axis (ms after submit), underruns, the cancel, and which phrase is being heard at a moment."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..contract import Ev, TraceEvent
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
    end_ms: float | None = None  # DONE / CANCEL_ACK / FAILED
    paused_at_ms: float | None = None  # playback is held from here (the first silent frame at the DAC)

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
        """Words of chunks whose playback has ended by `t_ms` (progress for long texts)."""
        done: dict[int, bool] = {}
        for i, (_, b) in self.play.items():  # a phrase is heard once all of its chunks have played
            p = self.phrase_of(i)
            done[p] = done.get(p, True) and b <= t_ms
        return sum(self.phrases[p][1] for p, ok in done.items() if ok and p in self.phrases)

    def audio_played_ms(self, t_ms: float) -> float:
        return sum(max(0.0, min(b, t_ms) - a) for a, b in self.play.values())


def build(events: list[TraceEvent]) -> Timeline | None:
    if not events or events[0].kind != Ev.SUBMIT:
        return None
    t0 = events[0].t_ns
    tl = Timeline(t0, int(events[0].data["device_rate"]))

    def ms(t: int) -> float:
        return (t - t0) / 1e6

    ready = {e.data["index"]: e for e in events if e.kind == Ev.CHUNK_READY}
    waits = text_waits(events, ready)  # the same split as the metrics: starvation or underrun
    timed: dict[int, list[tuple[int, int]]] = {}  # first chunk of a phrase → its words' sample spans

    for e in events:
        d = e.data
        if e.kind == Ev.PHRASE_PLANNED:
            tl.phrases[d["index"]] = (int(d.get("first_word", 0)), int(d["words"]), str(d["text"]))
            tl.total_words = int(d.get("total_words", 0))
        elif e.kind == Ev.SYNTH_START:
            tl.synth[d["index"]] = (ms(e.t_ns), None)
        elif e.kind == Ev.SYNTH_END and d["index"] in tl.synth:
            tl.synth[d["index"]] = (tl.synth[d["index"]][0], ms(e.t_ns))
        elif e.kind == Ev.PIECE:
            tl.chunk_phrase[d["index"]] = int(d["phrase"])
            if d.get("word_times"):
                timed[d["index"]] = list(d["word_times"])
        elif e.kind == Ev.PLAY and d["n"] > 0:
            if d["index"] in timed and tl.phrase_of(d["index"]) not in tl.word_ms:
                start = ms(d["dac_ns"]) - d["chunk_offset"] * 1000 / tl.rate  # the chunk's sample 0 on the axis
                tl.word_ms[tl.phrase_of(d["index"])] = [(start + a * 1000 / tl.rate, start + b * 1000 / tl.rate)
                                                        for a, b in timed[d["index"]]]
            a = ms(d["dac_ns"])
            b = a + d["n"] * 1000 / tl.rate
            old = tl.play.get(d["index"])
            tl.play[d["index"]] = (min(a, old[0]), max(b, old[1])) if old else (a, b)
        elif e.kind == Ev.UNDERRUN:
            (tl.starved if any(a <= e.t_ns < b for a, b in waits) else tl.underruns).append(ms(d["dac_ns"]))
        elif e.kind == Ev.TEXT and d.get("piece"):
            tl.text_ms.append(ms(e.t_ns))
        elif e.kind == Ev.PAUSE:
            tl.paused_at_ms = ms(d["dac_ns"])
        elif e.kind == Ev.RESUME and tl.paused_at_ms is not None:
            # the words not yet heard when it paused are heard later by the length of the pause
            at, shift = tl.paused_at_ms, ms(d["dac_ns"]) - tl.paused_at_ms
            for phrase, words in tl.word_ms.items():
                tl.word_ms[phrase] = [(a + shift, b + shift) if a >= at else (a, b) for a, b in words]
            tl.paused_at_ms = None
        elif e.kind == Ev.CANCEL:
            tl.cancel_ms = ms(e.t_ns)
        elif e.kind == Ev.BARGE_IN:
            tl.speech_ms = ms(d["true_onset_ns"])
        elif e.kind in (Ev.DONE, Ev.CANCEL_ACK, Ev.FAILED):
            tl.end_ms = ms(e.t_ns)
    return tl
