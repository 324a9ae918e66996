"""The window tells the truth about progress (issue 25), offscreen on fake engines (words timed as Kokoro's are)
playing to the JACK dummy device: the progress line counts the words heard up to the highlighted one, and the
TTFA graph gets the request's point when its first audio plays, before the request ends. (The chunk timeline's
labels at 50 chunks, under a window manager: test_desktop.py.)"""

from __future__ import annotations

import itertools
import re
import time

import pytest

from voicetrace.contract import Play
from voicetrace.testing.fakes import FakeCost, fake_source

pytestmark = [pytest.mark.audio]

TEXT = ("One two three four five six seven eight nine ten. Eleven twelve thirteen fourteen fifteen sixteen. "
        "Seventeen eighteen nineteen twenty, twenty-one and twenty-two, then the last words of all.")


@pytest.fixture()
def window(window_with):
    return window_with({"piper": fake_source(FakeCost(audio_s_per_char=0.03)), "kokoro": fake_source()}, TEXT)


def test_the_progress_line_counts_the_words_up_to_the_highlighted_one(window, qtbot):
    w = window
    # (words heard in the progress line, the number of the highlighted word: the last of the highlight, a whole
    # phrase where the engine did not time its words)
    seen: list[tuple[int, int]] = []

    def look() -> None:
        reader, match = w.editor.reader, re.search(r"words (\d+)/", w.progress.text())
        if reader.highlight is None or match is None or reader.spoken is None:
            return
        ends = [b + reader.spoken.offset for _, b in reader.spans]  # the highlight ends where its last word does
        if reader.highlight[1] in ends:
            seen.append((int(match.group(1)), ends.index(reader.highlight[1]) + 1))

    w.timer.timeout.connect(look)
    w.speak()
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=30_000)
    assert w.core.records[-1].outcome == "done"
    assert len({n for _, n in seen}) >= 3, seen  # it followed the words...
    assert all(said == word for said, word in seen), seen  # ...and said the highlighted one each time
    assert re.search(r"words (\d+)/\1 ", w.progress.text()), w.progress.text()  # and at the end, all of them


def test_the_ttfa_point_appears_when_the_first_audio_plays(window, qtbot):
    w = window
    assert w.graphs.points_ttfa == 0
    w.speak()
    req = w.core.current()
    assert req is not None
    qtbot.waitUntil(lambda: w.graphs.points_ttfa == 1, timeout=10_000)
    assert not req.finished.is_set() and not w.core.records  # before the request ends
    assert any(isinstance(e, Play) and e.n > 0 for e in req.trace.events)
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=30_000)
    assert w.graphs.points_ttfa == 1  # the record's point replaced it: one point per request
    x, y = w.graphs.history.ttfa_aud.getData()
    assert list(x) == [1.0] and y[0] == pytest.approx(w.core.records[-1].ttfa_audible_ms)


def test_while_the_voice_needs_the_cores_the_graphs_hold_back(window_with, qtbot):
    """Synthesis running with little audio queued (the request's start): the graphs redraw at most once a second
    (`held`); once audio is queued, at their own rate again; after the request, never held."""
    from voicetrace.ui.graphs import HELD_S

    # synthesis slower than real time: the first phrase (1.5 s of audio) takes over 2 s, nothing queued
    w = window_with({"piper": fake_source(FakeCost(rtf=1.5, audio_s_per_char=0.03)), "kokoro": fake_source()}, TEXT)
    held: list[bool] = []
    drawn: list[tuple[float, bool]] = []  # (when, held) of each redraw of the chunk timeline
    bars = w.graphs.synth_bars
    real = bars.setOpts

    def counted(**kw) -> None:
        drawn.append((time.monotonic(), w.graphs.held))
        real(**kw)

    bars.setOpts = counted  # type: ignore[method-assign]
    w.timer.timeout.connect(lambda: held.append(w.graphs.held))
    w.speak()
    qtbot.waitUntil(lambda: w.table.rowCount() == 1, timeout=30_000)
    qtbot.wait(300)
    assert any(held) and not all(held) and not held[-1], held
    spans = [b[0] - a[0] for a, b in itertools.pairwise(drawn) if b[1]]
    # how long it stays held depends on the machine: the interval is checked wherever it was held
    assert all(x >= HELD_S * 0.9 for x in spans), (spans, held, drawn)  # not a timing: the hold's interval


def test_held_graphs_redraw_once_a_hold_and_at_every_tick_again_after(qtbot, monkeypatch):
    """On a virtual clock: the waveform, fed every 100 ms, redraws once per HELD_S while held — the first time
    HELD_S into the hold, not at once (a request's start is when the engine needs the cores most) — and every
    time after."""
    from types import SimpleNamespace

    import numpy as np

    from voicetrace.ui import graphs

    clock = SimpleNamespace(now=100.0)
    monkeypatch.setattr(graphs, "time", SimpleNamespace(monotonic=lambda: clock.now))
    lg = graphs.LiveGraphs()
    qtbot.addWidget(lg)
    monkeypatch.setattr(lg, "shown", lambda: True)
    draws: list[float] = []
    real = lg.wave_curve.setData
    monkeypatch.setattr(lg.wave_curve, "setData", lambda *a, **k: (draws.append(clock.now), real(*a, **k)))
    lg.held = True
    for _ in range(30):
        clock.now += 0.1
        lg.set_output(np.ones(2400, np.float32), 24_000)
    # not a timing: `draws` are readings of the virtual clock above (3 s held: none at once, then one a second)
    assert len(draws) == 2 and draws[0] >= 100.0 + graphs.HELD_S, draws
    lg.held = False
    for _ in range(10):
        clock.now += 0.1
        lg.set_output(np.ones(2400, np.float32), 24_000)
    assert len(draws) == 12, draws
