"""The tagged ring: order, no cross-request samples, cancel fades then skips, underruns are reported."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from voicetrace.audio.ring import TaggedRing


class Reader:
    def __init__(self, ring: TaggedRing) -> None:
        self.ring = ring
        self.pieces: list[tuple[int, int, int, int, int, bool]] = []
        self.underruns: list[tuple[int, int]] = []
        self.ended: list[int] = []

    def read(self, frames: int) -> np.ndarray:
        out = np.full(frames, np.nan, np.float32)
        self.ring.read(out, lambda *p: self.pieces.append(p), lambda t, m, o: self.underruns.append((t, m)),
                       self.ended.append)
        return out


def ramp(tag: int, start: int, n: int) -> np.ndarray:
    """Samples that encode their request and position, so any mix-up is visible."""
    return (tag * 10_000 + start + np.arange(n)).astype(np.float32) / 1e6


def test_reads_in_order_across_wrap_and_pads_with_zeros():
    ring = TaggedRing(100, fade_frames=4)
    r = Reader(ring)
    assert ring.write(1, 0, ramp(1, 0, 60)) == 60
    np.testing.assert_array_equal(r.read(50), ramp(1, 0, 50))
    assert ring.write(1, 1, ramp(1, 60, 70), last=True) == 70  # wraps around the end of the buffer
    out = r.read(100)
    np.testing.assert_array_equal(out[:80], ramp(1, 50, 80))
    assert not out[80:].any()
    assert r.ended == [1] and r.underruns == []


def test_underrun_reported_only_while_request_is_open():
    ring = TaggedRing(100)
    r = Reader(ring)
    ring.write(7, 0, ramp(7, 0, 10))
    r.read(16)
    assert r.underruns == [(7, 6)]
    ring.write(7, 1, ramp(7, 10, 4), last=True)
    r.read(16)
    assert r.underruns == [(7, 6)] and r.ended == [7]


def test_cancel_fades_out_the_audible_request_then_outputs_silence():
    ring = TaggedRing(1000, fade_frames=8)
    r = Reader(ring)
    ring.write(3, 0, np.ones(500, np.float32))
    r.read(10)
    ring.kill(3)
    out = r.read(32)
    assert np.all(np.diff(out[:8]) < 0) and 0 < out[0] < 1  # a falling ramp, no step
    assert not out[8:].any()
    assert [p[5] for p in r.pieces[1:]] == [True]  # only the fade piece after the kill
    assert not r.read(32).any()
    assert ring.level_frames() == 0


def test_cancel_of_a_request_not_yet_audible_outputs_none_of_it():
    ring = TaggedRing(1000, fade_frames=8)
    r = Reader(ring)
    ring.write(1, 0, np.full(20, 0.5, np.float32), last=True)
    ring.write(2, 0, np.full(50, 0.25, np.float32), last=True)
    ring.kill(2)
    out = r.read(64)
    assert np.all(out[:20] == 0.5) and not out[20:].any()
    assert {p[0] for p in r.pieces} == {1}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("w"), st.integers(1, 4), st.integers(0, 90)),
    st.tuples(st.just("r"), st.integers(1, 64), st.just(0)),
    st.tuples(st.just("k"), st.integers(1, 4), st.just(0)),
), max_size=60))
def test_interleaved_writes_reads_and_kills_never_mix_requests(ops):
    ring = TaggedRing(256, fade_frames=8)
    r = Reader(ring)
    written = dict.fromkeys(range(1, 5), 0)
    killed: set[int] = set()
    next_off: dict[int, int] = {}
    for op, a, b in ops:
        if op == "w" and a not in killed:
            written[a] += ring.write(a, 0, ramp(a, written[a], b), chunk_offset=written[a])
        elif op == "k":
            ring.kill(a)
            killed.add(a)
        elif op == "r":
            first = len(r.pieces)
            killed_before = set(killed)
            out = r.read(a)
            covered = np.zeros(a, bool)
            for tag, _chunk, off, o, n, faded in r.pieces[first:]:
                assert n > 0 and off == next_off.get(tag, 0)  # in order; a fade continues where play stopped
                next_off[tag] = off + n
                expect = ramp(tag, off, n)
                if faded:
                    assert tag in killed_before
                    assert np.all(np.abs(out[o:o + n]) <= np.abs(expect) + 1e-7)
                else:
                    assert tag not in killed_before  # never a plain sample of a cancelled request
                    np.testing.assert_array_equal(out[o:o + n], expect)
                covered[o:o + n] = True
            assert not out[~covered].any()  # everything else is silence


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(1, 120), min_size=1, max_size=20), st.lists(st.integers(1, 50), min_size=1,
                                                                          max_size=40))
def test_what_is_read_is_exactly_what_was_written(chunks, reads):
    ring = TaggedRing(200)
    r = Reader(ring)
    sent: list[np.ndarray] = []
    got: list[np.ndarray] = []
    pos = 0
    pending = list(chunks)
    for k in reads * 10:
        while pending and ring.free_frames() >= 1:
            n = ring.write(1, 0, ramp(1, pos, pending[0]), chunk_offset=pos)
            sent.append(ramp(1, pos, n))
            pos += n
            if n == pending[0]:
                pending.pop(0)
            else:
                pending[0] -= n
                break
        out = r.read(k)
        filled = sum(p[4] for p in r.pieces) - sum(len(g) for g in got)
        got.append(out[:filled].copy())
    np.testing.assert_array_equal(np.concatenate(got), np.concatenate(sent)[:sum(len(g) for g in got)])
