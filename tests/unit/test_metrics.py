"""Metrics come from trace events exactly as docs/metrics.md defines them (synthetic traces, known answers)."""

from __future__ import annotations

from voicetrace.contract import (
    BargeIn,
    BargeInMetrics,
    Cancel,
    CancelAck,
    ChunkReady,
    EngineIdle,
    FlushSeen,
    IgnoredVoice,
    PhrasePlanned,
    Play,
    Submit,
    SynthEnd,
    SynthStart,
    Underrun,
    VoiceIgnored,
)
from voicetrace.core.metrics import derive
from voicetrace.core.trace import Trace

MS = 1_000_000
RATE = 24000
R = "r1"  # the request id


def base_trace() -> Trace:
    t = Trace(R)
    t.add(Submit(0, R, engine="piper", voice="joe", text_chars=20, device_rate=RATE))
    t.add(PhrasePlanned(1 * MS, R, index=0, text="Hello there", words=2))
    t.add(SynthStart(2 * MS, R, index=0))
    t.add(SynthEnd(52 * MS, R, index=0, samples=12000, rate=24000, compute_ns=50 * MS,
          cache=[("phonemes", False), ("phrase_audio", True)]))
    t.add(ChunkReady(53 * MS, R, index=0, samples=12000, voiced_offset=480))
    # the callback at 60 ms copies 256 frames starting at out offset 100 (DAC 81 ms for frame 0 of the block)
    block_dac = 81 * MS
    t.add(Play(60 * MS, R, index=0, chunk_offset=0, n=156, dac_ns=block_dac + 100 * 1_000_000_000 // RATE,
          t_cb_ns=60 * MS, faded=False))
    t.add(Play(70 * MS, R, index=0, chunk_offset=156, n=256, dac_ns=91 * MS, t_cb_ns=70 * MS, faded=False))
    t.add(Play(80 * MS, R, index=0, chunk_offset=412, n=256, dac_ns=101 * MS, t_cb_ns=80 * MS, faded=False))
    return t


def test_ttfa_callback_audible_and_voiced():
    m = derive(base_trace())
    assert m.ttfa_callback_ms == 60.0
    assert abs(m.ttfa_audible_ms - (81 + 100 / 24)) < 1e-3
    # voiced sample 480 lies in the third piece (offsets 412..667): 101 ms + 68 frames
    assert abs(m.ttfa_voiced_ms - (101 + 68 / 24)) < 1e-3
    assert m.rtf == 0.1 and m.audio_ms == 500.0
    assert m.cache == {"phonemes": {"hits": 0, "lookups": 1}, "phrase_audio": {"hits": 1, "lookups": 1}}
    assert m.chunks[0].slack_ms == 7.0 and m.outcome == "running"


def test_cancel_latencies_and_no_stale_samples():
    t = base_trace()
    t.add(Cancel(85 * MS, R))
    t.add(EngineIdle(86 * MS, R))
    t.add(FlushSeen(90 * MS, R, t_cb_ns=90 * MS, dac_ns=111 * MS))
    t.add(Play(90 * MS, R, index=0, chunk_offset=668, n=120, dac_ns=111 * MS, t_cb_ns=90 * MS, faded=True))
    t.add(CancelAck(90 * MS, R))
    m = derive(t)
    assert m.cancelled and m.outcome == "cancelled"
    assert m.cancel_to_idle_ms == 1.0
    assert m.cancel_to_silence_ms == 111 + 5 - 85  # the fade's 120 frames end 5 ms after the block's DAC time
    assert m.cancellation_latency_ms == m.cancel_to_silence_ms
    assert m.stale_samples_after_cancel == 0


def test_cancel_in_a_gap_counts_from_when_the_audio_stopped():
    """The ring had run dry before the cancel: silence began when the last sample left, not at the flush."""
    t = base_trace()  # the last piece ends at 101 ms + 256 frames = 111.67 ms (DAC)
    t.add(Underrun(90 * MS, R, frames=256, dac_ns=111 * MS))
    t.add(Cancel(95 * MS, R))
    t.add(FlushSeen(100 * MS, R, t_cb_ns=100 * MS, dac_ns=121 * MS))
    assert abs(derive(t).cancel_to_silence_ms - (101 + 256 / 24 - 95)) < 1e-3
    t2 = base_trace()
    t2.add(Cancel(115 * MS, R))  # after the last sample reached the DAC: already silent
    t2.add(FlushSeen(120 * MS, R, t_cb_ns=120 * MS, dac_ns=141 * MS))
    assert derive(t2).cancel_to_silence_ms == 0.0


def test_cancel_during_a_punctuation_pause_counts_from_the_last_sound():
    """The chunk's trailing pause (zeros) was playing when the cancel came: it was silent from the pause on."""
    t = base_trace()
    t.add(ChunkReady(53 * MS, R, index=0, samples=12000, voiced_offset=480, sound_end=500))  # pause from 500
    t.add(Cancel(85 * MS, R))
    t.add(FlushSeen(90 * MS, R, t_cb_ns=90 * MS, dac_ns=111 * MS))
    # frame 500 lies in the third piece (offsets 412..667, DAC 101 ms): 88 frames in
    assert abs(derive(t).cancel_to_silence_ms - (101 + 88 / 24 - 85)) < 1e-3  # not the piece's end (111.7 ms)


def test_pieces_of_a_chunks_leading_silence_do_not_count_as_sound():
    t = base_trace()  # chunk 0 sounds only from sample 700 on: every piece played so far was its leading pause
    t.add(ChunkReady(53 * MS, R, index=0, samples=12000, voiced_offset=800, sound_start=700, sound_end=11000))
    t.add(Cancel(95 * MS, R))
    t.add(FlushSeen(100 * MS, R, t_cb_ns=100 * MS, dac_ns=121 * MS))
    assert derive(t).cancel_to_silence_ms == 0.0  # nothing sounding was ever sent: silent at the cancel


def test_stale_samples_are_counted():
    t = base_trace()
    t.add(Cancel(85 * MS, R))
    t.add(EngineIdle(86 * MS, R))
    t.add(FlushSeen(90 * MS, R, t_cb_ns=90 * MS, dac_ns=111 * MS))
    t.add(CancelAck(90 * MS, R))
    t.add(Play(100 * MS, R, index=0, chunk_offset=668, n=256, dac_ns=121 * MS, t_cb_ns=100 * MS, faded=False))
    assert derive(t).stale_samples_after_cancel == 256


def test_underruns_and_inter_arrival():
    t = base_trace()
    t.add(ChunkReady(153 * MS, R, index=1, samples=2400, voiced_offset=0))
    t.add(Underrun(140 * MS, R, frames=240, dac_ns=160 * MS))
    t.add(Underrun(150 * MS, R, frames=256, dac_ns=170 * MS))
    m = derive(t)
    assert m.underruns == 2 and m.underrun_ms == round(496 / 24, 3)
    assert m.chunks[1].inter_arrival_ms == 100.0 and m.chunks[1].play_ms is None


def test_voice_barge_in_is_a_typed_record_timed_from_the_users_true_onset():
    t = base_trace()
    t.add(BargeIn(84 * MS, R, speech_onset_ns=80 * MS, true_onset_ns=78 * MS, canceller="aec3"))
    t.add(Cancel(85 * MS, R))
    t.add(FlushSeen(90 * MS, R, t_cb_ns=90 * MS, dac_ns=111 * MS))
    t.add(Play(90 * MS, R, index=0, chunk_offset=668, n=120, dac_ns=111 * MS, t_cb_ns=90 * MS, faded=True))
    t.add(VoiceIgnored(95 * MS, R, too_short=2, own_voice=1, canceller="aec3", erle_db=21.5, route="aec3",
                       route_reason="the microphone hears the app", armed_ms=400.0, route_changes=1))
    b = derive(t).barge_in
    assert isinstance(b, BargeInMetrics) and b.triggered
    assert (b.true_onset_ms, b.speech_onset_ms, b.trigger_ms) == (78.0, 80.0, 84.0)
    assert b.onset_to_silence_ms == 111 + 5 - 78  # the user's true onset → the fade's last sample at the DAC
    assert b.ignored == IgnoredVoice(too_short=2, own_voice=1) and b.false_triggers == 3
    assert (b.route, b.armed_ms, b.route_changes, b.erle_db) == ("aec3", 400.0, 1, 21.5)
    as_json = derive(t).to_dict()["barge_in"]  # the CLI's and the server's JSON: the same names, nested
    assert as_json["ignored"] == {"too_short": 2, "own_voice": 1} and as_json["trigger_ms"] == 84.0


def test_a_request_listened_to_but_not_interrupted_has_no_onsets():
    t = base_trace()
    t.add(VoiceIgnored(95 * MS, R, too_short=0, own_voice=4, canceller="gate"))
    b = derive(t).barge_in
    assert b is not None and not b.triggered and b.onset_to_silence_ms is None and b.true_onset_ms is None
    assert b.canceller == "gate" and b.false_triggers == 4
    assert derive(base_trace()).barge_in is None  # nobody listened
