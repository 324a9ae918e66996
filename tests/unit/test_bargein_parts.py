"""The barge-in gate and run counter on synthetic signals with known answers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from voicetrace.bargein.listener import BargeInListener, SpeechRuns, remove_echo

RATE = 24_000
HOP = 768  # 32 ms


def speechlike(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t + seed)  # syllable-rate amplitude modulation
    return (0.2 * env * np.sin(2 * np.pi * (120 + 40 * seed) * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 6000), st.floats(0.05, 1.0), st.integers(0, 1400))
def test_a_pure_echo_is_explained_at_any_delay_and_gain(delay: int, gain: float, lead: int) -> None:
    """mic = gain × what was played `delay` frames ago: the gate finds it and leaves (almost) nothing."""
    max_delay = 6000
    played = speechlike(max_delay + HOP + lead + 2000, 1)
    mic_start = max_delay + 1000  # the mic frame's first sample heard the reference's sample mic_start - delay
    mic = gain * played[mic_start - delay:mic_start - delay + HOP]
    ref = played[mic_start - max_delay:mic_start + HOP + lead]
    residual, share = remove_echo(mic, ref, lead)
    assert share > 0.99
    assert np.sqrt(np.mean(residual ** 2)) < 0.01 * np.sqrt(np.mean(mic ** 2)) + 1e-7


def test_the_user_talking_over_the_echo_stays_in_the_residual() -> None:
    played = speechlike(10_000, 1)
    user = speechlike(HOP, 5)
    echo = 0.5 * played[3000:3000 + HOP]
    residual, share = remove_echo(echo + user, played[:3000 + HOP + 500], 500)
    assert share < 0.7  # the gate must not call this frame the app's own voice
    # what is left is the user: correlated with the user's signal, at the user's level
    assert np.corrcoef(residual, user)[0, 1] > 0.9
    assert remove_echo(user, None, 0) == (user, 0.0)  # speakers silent: nothing to remove


def test_the_true_onset_is_where_the_stretch_leading_into_the_vad_onset_began() -> None:
    """2 s of residual at 16 kHz ending at t = 2 s: the user from 1.15 s, a /s/ then a 40 ms closure then the
    vowel; a click (one loud sample) at 1.0 s and the quiet floor around it. The onset is the /s/ — neither the
    click, 150 ms of quiet before it (the old rule took the first loud sample from 250 ms before the VAD onset),
    nor the vowel after the closure."""
    rate = 16_000
    rng = np.random.default_rng(3)
    history = (1e-4 * rng.standard_normal(2 * rate)).astype(np.float32)
    history[int(1.0 * rate)] = 0.5
    s, gap, vowel = int(1.15 * rate), int(1.20 * rate), int(1.24 * rate)
    history[s:gap] += (0.05 * rng.standard_normal(gap - s)).astype(np.float32)
    history[vowel:] += (0.2 * np.sin(2 * np.pi * 150 * np.arange(2 * rate - vowel) / rate)).astype(np.float32)
    end_ns = 2_000_000_000
    for vad_s in (1.18, 1.25):
        onset = BargeInListener._true_onset(history, end_ns, int(vad_s * 1e9), rate)
        first = s + int(np.flatnonzero(np.abs(history[s:]) > 0.01)[0])
        assert onset == int(first * 1e9 / rate)
    # nothing loud before the VAD onset: the VAD onset itself; the click alone, far before it: not an onset
    quiet = (1e-4 * rng.standard_normal(2 * rate)).astype(np.float32)
    assert BargeInListener._true_onset(quiet, end_ns, 1_500_000_000, rate) == 1_500_000_000
    quiet[int(1.3 * rate)] = 0.5
    assert BargeInListener._true_onset(quiet, end_ns, 1_500_000_000, rate) == 1_500_000_000


def test_speech_runs_trigger_once_and_count_short_bursts_and_echo() -> None:
    runs = SpeechRuns(frames_needed=3, gap_frames=3)
    pattern = [True, True, False, True, False, False, False, True, True, False, True, True, True, True]
    fired = [runs.push(s, False, k) for k, s in enumerate(pattern)]
    assert fired == [False] * 12 + [True, False]
    # the run that triggered started at frame 10, but its utterance at frame 7 (after 3 quiet frames)
    assert runs.utterance_start_ns == 7
    assert runs.short_runs == 3
    for k in range(7):
        runs.push(False, True, 100 + k)
    assert runs.echo_runs == 1  # one stretch of the app's own voice long enough to have triggered


def test_a_one_frame_blip_before_the_user_spoke_does_not_start_the_utterance() -> None:
    """AEC3's residual of the echo: one frame taken for speech 2 frames before the user began. The utterance
    starts where the user did (the blip was 1 in 12 runs' onset, a third of a second early); a short word
    before a pause still starts it."""
    pattern = [False] * 5 + [True, False, False, True, True, True]
    runs = SpeechRuns(frames_needed=3, gap_frames=3)
    assert [runs.push(s, False, k) for k, s in enumerate(pattern)].index(True) == 10
    assert runs.utterance_start_ns == 8
    word = SpeechRuns(frames_needed=3, gap_frames=3)
    assert [word.push(s, False, k) for k, s in enumerate([True, True, False, False, True, True, True])][-1]
    assert word.utterance_start_ns == 0


def test_with_aec3_speech_is_k_of_the_last_n_frames() -> None:
    """In double talk AEC3's suppressor drops frames of the user's voice: 6 of the last 8 frames trigger where
    6 consecutive frames never come; the echo-only pattern (isolated frames) does not."""
    pattern = [True, True, False, True, True, False, True, True, True]
    windowed = SpeechRuns(frames_needed=6, window=8)
    assert [windowed.push(s, False, k) for k, s in enumerate(pattern)].index(True) == 7
    consecutive = SpeechRuns(frames_needed=6)
    assert not any(consecutive.push(s, False, k) for k, s in enumerate(pattern))
    sparse = SpeechRuns(frames_needed=6, window=8)
    assert not any(sparse.push(k % 3 == 0, False, k) for k in range(60))
    assert not any(sparse.push(False, False, 60 + k) for k in range(8))
    assert sparse.short_runs == 1  # a burst that did not trigger is counted once the window has emptied


def test_the_room_is_the_one_asked_for_and_the_same_every_time() -> None:
    from voicetrace.testing.room import BlockConvolver, room_ir, rt60_of

    for rt60 in (0.3, 0.5, 0.8):
        ir = room_ir(RATE, rt60)
        assert abs(rt60_of(ir, RATE) - rt60) < 0.1 * rt60
        assert len(ir) > rt60 * RATE  # the tail is there
    assert np.array_equal(room_ir(RATE, 0.5), room_ir(RATE, 0.5))  # a fixed seed: the same room
    assert not np.array_equal(room_ir(RATE, 0.5, seed=1), room_ir(RATE, 0.5, seed=2))
    ir = room_ir(RATE, 0.5)
    x = speechlike(256 * 60, 2)
    conv = BlockConvolver(ir, 256)
    y = np.concatenate([conv.process(x[i:i + 256]) for i in range(0, len(x), 256)])
    assert np.max(np.abs(y - np.convolve(x, ir)[:len(x)])) < 1e-4  # the partitioned convolution is exact


def test_aec3_removes_a_room_echo_and_keeps_the_user() -> None:
    from voicetrace.bargein.aec import AEC_RATE, EchoCanceller3, aec3_missing
    from voicetrace.testing.room import room_ir

    assert aec3_missing() is None  # pywebrtc-audio is a dependency: it must load here
    far = speechlike(RATE * 4, 3)
    echo = np.convolve(far, room_ir(RATE, 0.5))[:len(far)].astype(np.float32)
    aec = EchoCanceller3(RATE, RATE)
    mic16, res = [], []
    for i in range(0, len(far), HOP):
        m, r = aec.process(echo[i:i + HOP], far[i:i + HOP])
        mic16.append(m)
        res.append(r)
    m, r = np.concatenate(mic16)[AEC_RATE * 2:], np.concatenate(res)[AEC_RATE * 2:]  # after it has adapted
    assert 10 * np.log10(np.mean(m ** 2) / np.mean(r ** 2)) > 15  # ERLE
    # with nothing played the microphone passes (the user alone, no echo to take out)
    quiet = EchoCanceller3(RATE, RATE)
    user = speechlike(RATE * 2, 6)
    outs = [quiet.process(user[i:i + HOP], np.zeros(HOP, np.float32)) for i in range(0, len(user), HOP)]
    m, r = np.concatenate([o[0] for o in outs])[AEC_RATE:], np.concatenate([o[1] for o in outs])[AEC_RATE:]
    assert np.sqrt(np.mean(r ** 2)) > 0.5 * np.sqrt(np.mean(m ** 2))


def _worst_second_erle(phases: tuple[int, ...] | None, delay: int, far: np.ndarray, wet: np.ndarray) -> float:
    """ERLE (dB) of the worst second of audible far end, after the first second, with the echo `delay` late."""
    import soxr

    from voicetrace.bargein.aec import AEC_FRAME, AEC_RATE, AUDIBLE, EchoCanceller3

    near = np.concatenate([np.zeros(delay, np.float32), wet[:len(wet) - delay]])
    aec = EchoCanceller3(RATE, RATE) if phases is None else EchoCanceller3(RATE, RATE, phases)
    outs = [aec.process(near[i:i + HOP], far[i:i + HOP]) for i in range(0, len(far), HOP)]
    mic, res = np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])
    far16 = soxr.resample(far, RATE, AEC_RATE)
    frames = [(float(np.sum(mic[a:a + AEC_FRAME] ** 2)), float(np.sum(res[a:a + AEC_FRAME] ** 2)))
              for a in range(0, len(mic) - AEC_FRAME, AEC_FRAME) if np.max(np.abs(far16[a:a + AEC_FRAME])) >= AUDIBLE]
    frames = frames[100:]
    windows = [frames[k:k + 100] for k in range(0, len(frames) - 100, 25)]
    return min(10 * np.log10(sum(m for m, _ in w) / sum(r for _, r in w)) for w in windows)


def test_aec3_cancels_whatever_the_echo_delay_to_the_sample() -> None:
    """One AEC3 cancels well or not at all depending on the echo delay modulo its delay estimator's decimation (6
    samples at 24 kHz); the listener's canceller runs one per residue and takes the best."""
    from voicetrace.testing.room import room_ir

    far = speechlike(RATE * 6, 3)
    wet = np.convolve(far, room_ir(RATE, 0.5))[:len(far)].astype(np.float32)
    delays = range(960, 966)  # 40 ms, one whole period
    worst = [_worst_second_erle(None, d, far, wet) for d in delays]  # the listener's canceller
    assert min(worst) > 15, worst
    alone = [_worst_second_erle((0,), d, far, wet) for d in delays]
    assert min(alone) < 5, alone  # why: a single canceller fails at some delays (so this test can fail)


def test_the_room_convolver_takes_a_period_of_several_blocks_as_those_blocks_one_by_one():
    """PipeWire's JACK changes its period with the graph's quantum: a longer period is the same convolution."""
    import numpy as np
    import pytest

    from voicetrace.testing.room import BlockConvolver, room_ir

    ir = room_ir(24_000, 0.3)
    x = np.random.default_rng(3).standard_normal(4 * 256).astype(np.float32)
    one, many = BlockConvolver(ir, 256), BlockConvolver(ir, 256)
    whole = one.process(x)
    blocks = np.concatenate([many.process(x[k:k + 256]) for k in range(0, len(x), 256)])
    assert np.allclose(whole, blocks, atol=1e-5)
    assert np.allclose(whole, np.convolve(x, ir)[:len(x)], atol=1e-3)
    with pytest.raises(ValueError, match="whole number"):
        one.process(x[:100])
