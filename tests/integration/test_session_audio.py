"""Real models through a real PortAudio stream on the JACK dummy device: audio arrives, is speech-length,
chunks come in order, cancel leaves zero stale samples, metrics agree with the trace."""

from __future__ import annotations

import time

import pytest

from voicetrace.contract import CancelAck, Done, Failed, Play, SynthEnd, SynthStart, TtsChunk
from voicetrace.core.session import Session

pytestmark = [pytest.mark.audio, pytest.mark.models]

TEXT = ("Streaming speech starts with a short phrase. Then longer phrases follow while the first one plays, "
        "so the listener never hears a gap.")


def speak(session: Session, text: str, engine: str, timeout: float = 120.0):
    req = session.submit(text, engine)
    assert req.finished.wait(timeout), "request did not finish"
    time.sleep(0.1)  # later callbacks would reveal stale audio
    return req, session.metrics(req.id)


def test_piper_stream_plays_every_chunk_in_order(player, piper_source):
    seen: list[TtsChunk] = []
    session = Session(player, {"piper": piper_source}, on_chunk=seen.append)
    try:
        req, m = speak(session, TEXT, "piper")
    finally:
        session.close()
    assert [c.chunk_index for c in seen] == list(range(len(m.chunks)))
    assert [c.is_final for c in seen] == [False] * (len(seen) - 1) + [True]
    assert all(c.request_id == req.id and len(c.audio) == mc.samples for c, mc in zip(seen, m.chunks, strict=True))
    assert m.outcome == "done" and req.outcome == "done"
    assert len(m.chunks) >= 2
    assert m.chunks[0].words < len(TEXT.split()) / 3  # the first phrase is short
    assert sum(c.words for c in m.chunks) == len(TEXT.split())
    # speech-length: between 0.15 and 1 s of audio per word
    assert 0.15 * len(TEXT.split()) < m.audio_ms / 1000 < 1.0 * len(TEXT.split())
    plays = [c.play_ms for c in m.chunks]
    assert all(p is not None for p in plays) and plays == sorted(plays)
    for c in m.chunks:
        assert c.ready_ms is not None and c.play_ms is not None and c.play_ms >= c.ready_ms
    assert m.ttfa_callback_ms is not None and m.ttfa_audible_ms is not None and m.ttfa_voiced_ms is not None
    assert m.ttfa_callback_ms <= m.ttfa_audible_ms <= m.ttfa_voiced_ms  # not a timing threshold: an ordering
    assert m.ttfa_callback_ms >= m.chunks[0].ready_ms  # nothing plays before it entered the ring
    # every sample put in the ring reached the callback exactly once
    played = sum(e.n for e in req.trace.of(Play))
    assert played == sum(c.samples for c in m.chunks)
    assert m.rtf is not None and m.rtf > 0 and m.stale_samples_after_cancel == 0


@pytest.mark.parametrize("when", ["before_first_audio", "while_playing", "after_end"])
def test_cancel_at_any_point_ends_in_exactly_one_outcome_without_stale_audio(player, piper_source, when):
    session = Session(player, {"piper": piper_source})
    try:
        req = session.submit(TEXT, "piper")
        if when == "before_first_audio":
            assert session.cancel(req.id)
        elif when == "while_playing":
            deadline = time.monotonic() + 30
            while not req.trace.of(Play) and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(0.3)
            assert session.cancel(req.id)
        else:
            assert req.finished.wait(120)
            assert not session.cancel(req.id)  # nothing left to cancel
        assert req.finished.wait(10)
        time.sleep(0.2)
        m = session.metrics(req.id)
        terminal = [type(e) for e in req.trace.events if isinstance(e, (Done, CancelAck, Failed))]
    finally:
        session.close()
    assert len(terminal) == 1
    assert m.stale_samples_after_cancel == 0
    if when == "after_end":
        assert m.outcome == "done" and not m.cancelled
        return
    assert m.outcome == "cancelled"
    assert m.cancel_to_silence_ms is not None and m.cancel_to_silence_ms >= 0
    assert m.cancel_to_idle_ms is not None and m.cancel_to_idle_ms >= 0
    ack = req.trace.first(CancelAck)
    assert ack is not None
    assert not [e for e in req.trace.of(Play) if e.t_ns > ack.t_ns]
    if when == "while_playing":
        assert any(e.faded for e in req.trace.of(Play))  # it faded out, no hard cut


def test_kokoro_cancel_aborts_the_run_in_flight(player, kokoro_source):
    """Cancel during a long synthesis: the ONNX run is terminated, not waited for."""
    session = Session(player, {"kokoro": kokoro_source})
    long_text = "Hello. " + " ".join(["This sentence is long enough to keep the model busy for a while,"] * 3)
    try:
        req = session.submit(long_text, "kokoro")
        deadline = time.monotonic() + 60
        # wait until the second phrase (a long one) is being synthesised
        while len(req.trace.of(SynthStart)) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.1)
        assert session.cancel(req.id)
        assert req.finished.wait(10)
        time.sleep(0.2)
        m = session.metrics(req.id)
        # the run in flight never finished: its SYNTH_END is missing
        started = {e.index for e in req.trace.of(SynthStart)}
        ended = {e.index for e in req.trace.of(SynthEnd)}
        assert started - ended
        # and the engine serves the next request normally (terminate flag reset)
        _req2, m2 = speak(session, "Still working.", "kokoro")
    finally:
        session.close()
    assert m.outcome == "cancelled" and m.stale_samples_after_cancel == 0
    assert m.cancel_to_idle_ms is not None
    assert m2.outcome == "done" and m2.audio_ms > 300


def test_unspeakable_phrase_is_skipped_and_the_rest_spoken(player, piper_source):
    session = Session(player, {"piper": piper_source})
    try:
        _req, m = speak(session, "🙂🙂🙂 Hello there, friend.", "piper")
    finally:
        session.close()
    assert m.outcome == "done" and m.audio_ms > 300


def test_requests_play_in_submit_order_without_mixing(player, piper_source):
    session = Session(player, {"piper": piper_source})
    try:
        a = session.submit("First request, said in full.", "piper")
        b = session.submit("Second request, after the first.", "piper")
        assert a.finished.wait(60) and b.finished.wait(60)
        time.sleep(0.1)
        ma, mb = session.metrics(a.id), session.metrics(b.id)
    finally:
        session.close()
    assert ma.outcome == mb.outcome == "done"
    a_plays = a.trace.of(Play)
    b_plays = b.trace.of(Play)
    a_end = max(p.dac_ns + p.n * 1e9 / player.rate for p in a_plays)
    assert min(p.dac_ns for p in b_plays) >= a_end - 1e6  # B starts after A's last sample
    assert sum(p.n for p in b_plays) == sum(c.samples for c in mb.chunks)


def test_a_repeated_short_reply_comes_from_the_phrase_cache(player, piper_source):
    session = Session(player, {"piper": piper_source})
    try:
        _r1, first = speak(session, "One moment, please.", "piper")
        _r2, again = speak(session, "One moment, please.", "piper")
    finally:
        session.close()
    assert first.outcome == again.outcome == "done"
    assert again.cache["phrase_audio"]["hits"] == again.cache["phrase_audio"]["lookups"] >= 1
    assert again.audio_ms == first.audio_ms  # the same audio, not a new synthesis
    assert again.first_chunk_cached  # so its TTFA is labelled a cache hit wherever it is shown
