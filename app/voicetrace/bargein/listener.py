"""Barge-in by voice: the microphone, a VAD and a self-interruption gate, listening while the app speaks.

Per 32 ms of microphone signal:
1. **Gate** (speakers mode): the app hears itself. The reference is what the player sent to the DAC around
   the same time (its scope, mapped to our clock), searched over echo delays; the best single-tap echo
   (gain × delayed reference) is subtracted. A frame the echo explains (most of its energy) is the app's own
   voice, whatever the VAD says; otherwise the VAD sees the residual. Headphones mode skips the gate.
2. **VAD** (Silero) on the residual at 16 kHz; a frame is speech if P ≥ threshold and the residual is above
   a floor level.
3. **Trigger** after `min_speech_ms` of consecutive speech frames (coughs and clicks are shorter): the
   caller cancels through the same path as the Interrupt button.

Times: the speech onset is the ADC time of the first speech frame of the utterance that triggered; the true onset is
the first sample above −40 dBFS in the residual shortly before it (what a person would call "when I started
talking"); the trigger is when the last needed frame had been analysed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio.vad import VAD_FRAME, VAD_RATE, VoiceDetector
from ..contract import Ev
from ..core.trace import now_ns

VOICED = 0.01  # −40 dBFS: the "true onset" level, the same as the app's first voiced sample


@dataclass
class BargeInConfig:
    min_speech_ms: float = 200.0
    threshold: float = 0.5
    headphones: bool = False  # no gate: the microphone cannot hear the speakers
    min_level: float = 0.003  # −50 dBFS residual: below it a frame is not the user's speech
    # The gate calls a frame the app's own voice when the echo explains more than this share of its energy.
    echo_share: float = 0.7
    max_echo_delay_ms: float = 250.0  # speaker → room → microphone, beyond the devices' own latencies
    # Virtual devices can loop output back before it reaches the DAC, so the echo may lead the DAC time.
    max_echo_lead_ms: float = 60.0


@dataclass(frozen=True)
class Trigger:
    speech_onset_ns: int  # ADC time of the first VAD-positive frame of the utterance
    true_onset_ns: int  # first residual sample above −40 dBFS just before / in that frame
    trigger_ns: int  # when the deciding frame had been analysed


def remove_echo(mic: np.ndarray, reference: np.ndarray | None, lead: int) -> tuple[np.ndarray, float]:
    """Subtract the best single-tap echo of `reference` from `mic`. `reference` spans the DAC times from
    (mic's first ADC time − max delay) to (its last + `lead` frames), so every delay in that range is one
    window of it. Returns (residual, share of mic's energy the echo explained)."""
    e_mic = float(np.dot(mic, mic))
    if reference is None or e_mic <= 1e-12:
        return mic, 0.0
    n = len(mic)
    c = np.correlate(reference, mic, mode="valid")  # c[k] = <reference[k:k+n], mic>
    sq = np.concatenate([[0.0], np.cumsum(reference.astype(np.float64) ** 2)])
    e_ref = sq[n:] - sq[:-n]
    with np.errstate(divide="ignore", invalid="ignore"):
        explained = np.where(e_ref > 1e-9, c * c / e_ref, 0.0)
    k = int(np.argmax(explained))
    if explained[k] <= 0:
        return mic, 0.0
    gain = c[k] / e_ref[k]
    residual = (mic - gain * reference[k:k + n]).astype(np.float32)
    return residual, float(min(1.0, explained[k] / e_mic))


class SpeechRuns:
    """Counts consecutive speech frames; says when a run is long enough and counts runs too short. The
    utterance a run belongs to starts at the first speech frame after `gap_frames` of non-speech: "Wait, stop"
    triggers on "stop", but the user started talking at "Wait"."""

    def __init__(self, frames_needed: int, gap_frames: int = 10) -> None:
        self.frames_needed = frames_needed
        self.gap_frames = gap_frames
        self.run = 0
        self.utterance_start_ns = 0
        self.short_runs = 0
        self.echo_runs = 0
        self._echo = 0
        self._quiet = gap_frames  # non-speech frames since the last speech frame

    def push(self, speech: bool, echo: bool, frame_start_ns: int) -> bool:
        """One analysed frame; True when it completes a run of `frames_needed` speech frames."""
        self._echo = self._echo + 1 if echo else 0
        if self._echo == self.frames_needed:
            self.echo_runs += 1  # the app's own voice, long enough that it would have interrupted
        if speech:
            if self._quiet >= self.gap_frames:
                self.utterance_start_ns = frame_start_ns
            self._quiet = 0
            self.run += 1
            return self.run == self.frames_needed
        self._quiet += 1
        if 0 < self.run < self.frames_needed:
            self.short_runs += 1
        self.run = 0
        return False


class BargeInListener:
    """Listens on `mic` while `armed()` names a request; calls `on_trigger(request_id, Trigger)` once per
    request. Runs on a thread of its own: nothing here touches the UI thread or the audio callbacks."""

    def __init__(self, mic: Any, player: Any, armed: Callable[[], str | None],
                 on_trigger: Callable[[str, Trigger], None], config: BargeInConfig | None = None,
                 detector: VoiceDetector | None = None,
                 on_done: Callable[[str, dict[str, int]], None] | None = None) -> None:
        import soxr

        self.mic = mic
        self.player = player
        self.armed = armed
        self.on_trigger = on_trigger
        self.on_done = on_done
        self.cfg = config or BargeInConfig()
        self.vad = detector or VoiceDetector()
        self._soxr = soxr
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.request_id: str | None = None
        self.runs = SpeechRuns(1)
        self.frames_analysed = 0
        self.busy_ns = 0  # time spent analysing (the listener's CPU cost)

    def start(self) -> BargeInListener:
        self._thread = threading.Thread(target=self._main, name="barge-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def ignored(self) -> dict[str, int]:
        """For the current/last request: speech bursts shorter than the minimum, and stretches of the app's own
        voice long enough to have interrupted without the gate."""
        return {"too_short": self.runs.short_runs, "own_voice": self.runs.echo_runs}

    # ---- the thread ---------------------------------------------------------------------------------
    def _main(self) -> None:
        rate = self.mic.rate
        hop = round(VAD_FRAME * rate / VAD_RATE)  # 32 ms of microphone frames
        lead = int(self.cfg.max_echo_lead_ms * rate / 1000)
        max_delay = int(self.cfg.max_echo_delay_ms * rate / 1000)
        history = np.zeros(int(2.0 * rate), np.float32)  # the residual, for the true onset
        pos = self.mic.pos
        fired = False
        while not self._stop.wait(0.008):
            rid = self.armed()
            if rid != self.request_id:
                if self.request_id is not None and self.on_done is not None:
                    self.on_done(self.request_id, self.ignored())
                self._new_request(rid, rate)
                fired = False
                pos = self.mic.pos
            if rid is None or fired:
                pos = self.mic.pos
                continue
            while self.mic.pos - pos >= hop:
                t0 = time.perf_counter_ns()
                start, frame, adc = self.mic.read(pos)
                frame = frame[:hop]
                if not self._reference_ready(adc + int((hop + lead) * 1e9 / rate), t0):
                    break  # what the speakers played around this frame is not all in the scope yet
                pos = start + hop
                residual, echo_share = self._gate(frame, adc, hop, lead, max_delay)
                history = np.concatenate([history[hop:], residual])
                speech = self._speech(residual)
                level = math.sqrt(float(np.mean(residual * residual)))
                echo = echo_share >= self.cfg.echo_share and not self.cfg.headphones
                is_speech = speech and not echo and level >= self.cfg.min_level
                done = self.runs.push(is_speech, echo and math.sqrt(float(np.mean(frame * frame))) >=
                                      self.cfg.min_level, adc)
                self.frames_analysed += 1
                self.busy_ns += time.perf_counter_ns() - t0
                if done:
                    onset = self.runs.utterance_start_ns
                    trig = Trigger(onset, self._true_onset(history, adc + int(hop * 1e9 / rate), onset, rate),
                                   now_ns())
                    fired = True
                    self.on_trigger(rid, trig)
                    break
        if self.request_id is not None and self.on_done is not None:
            self.on_done(self.request_id, self.ignored())

    def _new_request(self, rid: str | None, rate: int) -> None:
        self.request_id = rid
        self.runs = SpeechRuns(max(1, math.ceil(self.cfg.min_speech_ms / (VAD_FRAME * 1000 / VAD_RATE))))
        self.vad.reset()
        self._resampler = (self._soxr.ResampleStream(rate, VAD_RATE, 1, dtype="float32")
                           if rate != VAD_RATE else None)
        self._pending = np.zeros(0, np.float32)
        self._last_speech = False

    def _reference_ready(self, until_ns: int, now: int) -> bool:
        """The player's scope reaches `until_ns` (DAC time), or waiting longer is pointless (no player, headphones,
        or a player whose callbacks stopped for 200 ms)."""
        if self.cfg.headphones or self.player is None:
            return True
        return self.player.sent_until_ns() >= until_ns or now - until_ns > 200_000_000

    def _gate(self, frame: np.ndarray, adc_ns: int, hop: int, lead: int, max_delay: int
              ) -> tuple[np.ndarray, float]:
        if self.cfg.headphones or self.player is None:
            return frame, 0.0
        ref = self.player.sent_at(adc_ns - int(max_delay * 1e9 / self.mic.rate), max_delay + hop + lead)
        if ref is not None and self.player.rate != self.mic.rate:
            ref = self._soxr.resample(ref, self.player.rate, self.mic.rate).astype(np.float32)
        if ref is not None and float(np.max(np.abs(ref), initial=0.0)) < 1e-4:
            ref = None  # the speakers were silent: nothing to hear of ourselves
        return remove_echo(frame, ref, lead)

    def _speech(self, residual: np.ndarray) -> bool:
        x = self._resampler.resample_chunk(residual) if self._resampler is not None else residual
        self._pending = np.concatenate([self._pending, np.asarray(x, np.float32)])
        while len(self._pending) >= VAD_FRAME:  # resampling may leave a hop one VAD frame short: keep the last
            p = self.vad.speech_probability(self._pending[:VAD_FRAME])
            self._pending = self._pending[VAD_FRAME:]
            self._last_speech = p >= self.cfg.threshold
        return self._last_speech

    @staticmethod
    def _true_onset(history: np.ndarray, history_end_ns: int, vad_onset_ns: int, rate: int) -> int:
        """First residual sample above −40 dBFS from 250 ms before the VAD onset; the VAD onset if none."""
        t_first = history_end_ns - int(len(history) * 1e9 / rate)
        lo = max(0, int((vad_onset_ns - 250_000_000 - t_first) * rate / 1e9))
        hit = np.flatnonzero(np.abs(history[lo:]) > VOICED)
        if not hit.size:
            return vad_onset_ns
        return min(vad_onset_ns, t_first + int((lo + int(hit[0])) * 1e9 / rate))


class VoiceBargeIn:
    """Barge-in by voice for a running app: opens the microphone, listens to the request being heard
    (`current()`), and on a trigger records the onsets in its trace and cancels it with `cancel` — the same
    path as the Interrupt button."""

    def __init__(self, player: Any, current: Callable[[], Any], cancel: Callable[[str], object],
                 input_device: str | int | None = None, config: BargeInConfig | None = None) -> None:
        from ..audio.mic import Microphone

        self._current = current
        self._cancel = cancel
        self._requests: dict[str, Any] = {}
        self.triggers: list[tuple[str, Trigger]] = []
        self.mic = Microphone(input_device)
        self.mic.start()
        try:
            self.listener = BargeInListener(self.mic, player, self._armed, self._trigger, config,
                                            on_done=self._done).start()
        except BaseException:
            self.mic.close()
            raise

    def _armed(self) -> str | None:
        req = self._current()
        if req is None or req.finished.is_set():
            return None
        self._requests[req.id] = req
        return str(req.id)

    def _trigger(self, request_id: str, trig: Trigger) -> None:
        req = self._requests[request_id]
        req.trace.add(Ev.BARGE_IN, trig.trigger_ns, speech_onset_ns=trig.speech_onset_ns,
                      true_onset_ns=trig.true_onset_ns)
        self.triggers.append((request_id, trig))
        self._cancel(request_id)

    def _done(self, request_id: str, ignored: dict[str, int]) -> None:
        req = self._requests.pop(request_id, None)
        if req is not None:
            req.trace.add(Ev.VOICE_IGNORED, **ignored)

    def close(self) -> None:
        self.listener.stop()
        self.mic.close()
