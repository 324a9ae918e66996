"""The user's first word through AEC3: a second VAD on the raw microphone, trusted only where the microphone is
clearly louder than the echo the far end predicts.

In double talk AEC3's suppressor sometimes holds a whole first word back ("Sorry," of "Sorry, can I ask
something?"): the residual's VAD hears the user from the second word on, up to 1.1 s late (live, 2 of 20 lines in
a RT60 0.5 s room). The raw microphone still has the word, and the app's echo too; what tells them apart is level.
The echo return (microphone over far-end energy) is learnt on the app's voice wherever the residual's VAD heard no
speech; the echo predicted for a frame is that return times the far end's loudest frame of the last 256 ms (for the
echo's delay and the room's tail). A raw frame the VAD calls speech counts only when the microphone is `GATE_DB`
above that prediction. Offline (`scripts/first_word_try.py`: Piper through RT60 0.3/0.5/0.8 s rooms, echo 40 and
100 ms late, a fan at −50 dBFS, a Kokoro line every 0.25 s over the paragraph): the trigger came at most 282 ms
after the line began (the residual alone: up to 1.08 s, p95 0.47-1.02 s), and on the paragraph with nobody talking
no raw frame passed the gate at 10 dB; at 6 dB 57 did, and the app interrupted itself once."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from ..audio.vad import VAD_FRAME, VoiceDetector
from .aec import AUDIBLE

GATE_DB = 10.0
ENVELOPE_FRAMES = 8  # 256 ms of far end: the echo's delay and the room's tail
LEARN_FRAMES = 200  # the echo return is the median over the last this many frames of the app's voice (6.4 s)
MIN_LEARNT = 20  # until then the gate stays shut (a fresh listener, an echo that just appeared)


class RawSpeechGate:
    """Fed what AEC3 was fed (the microphone and the far end, at 16 kHz, in any lengths, both the same) and whether
    the residual's VAD heard speech; says whether the latest whole 32 ms frame is speech in the raw microphone
    louder than the echo could be."""

    def __init__(self, threshold: float, min_level: float, detector: VoiceDetector | None = None,
                 gate_db: float = GATE_DB) -> None:
        self.vad = detector or VoiceDetector()
        self.threshold = threshold
        self.min_level = min_level
        self.gate = 10 ** (gate_db / 10)
        self._mic = np.zeros(0, np.float32)
        self._far = np.zeros(0, np.float32)
        self._envelope: deque[float] = deque(maxlen=ENVELOPE_FRAMES)
        self._returns: deque[float] = deque(maxlen=LEARN_FRAMES)  # per frame: microphone / far-end envelope energy
        self.last = False
        self.passed = 0  # frames the gate let through (since start)

    def reset(self) -> None:
        """A new request: the VAD starts over; the echo return is the room's and is kept."""
        self.vad.reset()
        self._mic = np.zeros(0, np.float32)
        self._far = np.zeros(0, np.float32)
        self.last = False

    def forget(self) -> None:
        """The echo changed (it appeared: a headset unplugged): learn its return afresh, the gate shut meanwhile."""
        self._returns.clear()
        self._envelope.clear()

    def push(self, mic16: np.ndarray, far16: np.ndarray, residual_speech: bool) -> bool:
        self._mic = np.concatenate([self._mic, np.asarray(mic16, np.float32)])
        self._far = np.concatenate([self._far, np.asarray(far16, np.float32)])
        while len(self._mic) >= VAD_FRAME and len(self._far) >= VAD_FRAME:
            m, f = self._mic[:VAD_FRAME], self._far[:VAD_FRAME]
            self._mic, self._far = self._mic[VAD_FRAME:], self._far[VAD_FRAME:]
            self._envelope.append(float(np.mean(f * f)))
            envelope = max(self._envelope)
            e_mic = float(np.mean(m * m))
            learnt = len(self._returns) >= MIN_LEARNT
            predicted = float(np.median(self._returns)) * envelope if learnt else math.inf
            voiced = self.vad.speech_probability(m) >= self.threshold  # every frame: its state is recurrent
            speech = voiced and e_mic > self.gate * predicted and math.sqrt(e_mic) >= self.min_level
            self.passed += speech
            self.last = speech
            # learning from every frame the residual called quiet, not only those the gate refused: those alone
            # bias the return low, and offline that ran away into the app interrupting itself
            if envelope > AUDIBLE ** 2 and not residual_speech:
                self._returns.append(e_mic / envelope)
        return self.last
