"""The trace holds typed, frozen events: read by kind, never changed in place (a growing stretch of playback is
replaced by a longer event at the same place)."""

from __future__ import annotations

import dataclasses

import pytest

from voicetrace.contract import Cancel, Play, Submit
from voicetrace.core.trace import Trace


def _play(t: int, n: int) -> Play:
    return Play(t, "r", index=0, chunk_offset=0, n=n, dac_ns=t, t_cb_ns=t)


def test_of_returns_the_events_of_one_kind_in_order():
    t = Trace("r")
    t.add(Submit(0, "r", engine="fake", voice="v", text_chars=3, device_rate=24_000))
    a, b = t.add(_play(1, 10)), t.add(_play(2, 20))
    t.add(Cancel(3, "r"))
    assert t.of(Play) == [a, b] and t.first(Cancel) is not None and t.first(Submit).device_rate == 24_000


def test_an_event_is_frozen_and_replaced_where_it_was():
    t = Trace("r")
    old = t.add(_play(1, 10))
    t.add(Cancel(2, "r"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        old.n = 99  # type: ignore[misc]
    longer = t.replace(old, dataclasses.replace(old, n=old.n + 5))
    assert [type(e) for e in t.events] == [Play, Cancel] and t.events[0] is longer and longer.n == 15
    assert old.n == 10  # a reader holding the old event still sees what it read
