"""The raw-microphone gate behind AEC3 (`bargein.rawgate`): a frame the VAD calls speech counts only where the
microphone is well above the echo the far end predicts, learnt on the app's voice; shut until it has learnt."""

from __future__ import annotations

import numpy as np

from voicetrace.audio.vad import VAD_FRAME
from voicetrace.bargein.rawgate import MIN_LEARNT, RawSpeechGate


class AlwaysSpeech:
    """A VAD that calls everything speech: the gate's level rule alone decides."""

    def speech_probability(self, frame: np.ndarray) -> float:
        return 1.0

    def reset(self) -> None:
        pass


def _far(rng: np.random.Generator, frames: int) -> np.ndarray:
    return (0.2 * rng.standard_normal(frames * VAD_FRAME)).astype(np.float32)


def _feed(gate: RawSpeechGate, mic: np.ndarray, far: np.ndarray, residual_speech: bool = False) -> list[bool]:
    return [gate.push(mic[k:k + VAD_FRAME], far[k:k + VAD_FRAME], residual_speech)
            for k in range(0, len(mic), VAD_FRAME)]


def test_the_echo_alone_never_passes_and_a_louder_voice_over_it_does():
    rng = np.random.default_rng(1)
    gate = RawSpeechGate(0.5, 0.003, detector=AlwaysSpeech())  # type: ignore[arg-type]
    far = _far(rng, 100)
    echo = 0.3 * far  # the room returns the far end 10 dB down
    assert not any(_feed(gate, echo, far))
    voice = (0.5 * rng.standard_normal(len(far))).astype(np.float32)  # the user, 14 dB over the echo
    assert all(_feed(gate, echo + voice, far)[1:])
    quiet = (0.12 * rng.standard_normal(len(far))).astype(np.float32)  # a user about as loud as the echo
    assert not any(_feed(gate, echo + quiet, far))


def test_shut_until_it_has_learnt_the_echo_and_again_after_forgetting_it():
    rng = np.random.default_rng(2)
    gate = RawSpeechGate(0.5, 0.003, detector=AlwaysSpeech())  # type: ignore[arg-type]
    far = _far(rng, MIN_LEARNT - 1)
    loud = (0.5 * rng.standard_normal(len(far))).astype(np.float32)
    assert not any(_feed(gate, loud, far))  # nothing learnt yet: it cannot say what the echo is
    _feed(gate, 0.3 * _far(rng, 40), _far(rng, 40))
    assert _feed(gate, loud, far)[-1]
    gate.forget()
    assert not any(_feed(gate, loud, far))


def test_frames_the_residual_called_speech_do_not_teach_it_the_echo():
    rng = np.random.default_rng(3)
    far = _far(rng, 60)
    verdicts = []
    for residual_speech in (True, False):
        gate = RawSpeechGate(0.5, 0.003, detector=AlwaysSpeech())  # type: ignore[arg-type]
        _feed(gate, 3.0 * far, far, residual_speech=residual_speech)  # the user talking over the app
        _feed(gate, 0.3 * far, far)  # then the echo alone
        verdicts.append(_feed(gate, 3.0 * far, far)[0])
    assert verdicts == [True, False]  # taken for the echo's level, the user's voice would have shut the gate
