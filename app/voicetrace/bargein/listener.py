"""Barge-in by voice: the microphone, an echo canceller and a VAD, listening while the app speaks.

Per 32 ms of microphone signal:
1. **The app's own voice** (speakers): the microphone hears it through the room. The far end is what the player
   sent to the DAC (its scope, on our clock).
   - `aec3` (the default where `pywebrtc-audio` loads): WebRTC AEC3 cancels it (`bargein.aec`), fed all the
     time, silence included, so it stays adapted; the VAD sees its residual.
   - `gate` (the fallback): the best single-tap echo (gain × delayed reference, searched over echo delays) is
     subtracted, and a frame the echo explains (most of its energy) is the app's own voice, whatever the VAD
     says. Enough on a clean echo path; in a reverberant room it is not (it removes ~3 dB and interrupts itself).
   - `off` (headphones): the microphone cannot hear the app.
   - `auto` with AEC3 (the default): AEC3 runs all the time, and the echo-path detector (`bargein.echopath`)
     finds out whether the microphone hears the app at all: where it does not (a headset), the VAD reads the
     microphone itself, as with headphones — AEC3's suppressor would hold the user's voice back while the app
     speaks, though it has no echo to remove. It re-decides while running (`route`, `route_reason`).
2. **VAD** (Silero) on the residual at 16 kHz; a frame is speech if P ≥ threshold and the residual is above
   a floor level — or, through AEC3, if a second VAD hears speech in the raw microphone where it is well above the
   echo the far end predicts (`bargein.rawgate`: the first word AEC3's suppressor sometimes holds back).
3. **Trigger** after `min_speech_ms` of speech (coughs and clicks are shorter): consecutive frames for the gate
   and headphones; for AEC3, that many of the last few frames — in double talk its suppressor drops frames of
   the user's voice, and a run of consecutive frames came up to 1.4 s late. The caller cancels through the
   same path as the Interrupt button.

Times: the speech onset is the ADC time of the first speech frame of the utterance that triggered; the true onset is
the first sample above −40 dBFS in the residual shortly before it (what a person would call "when I started
talking"); the trigger is when the last needed frame had been analysed.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio.vad import VAD_FRAME, VAD_RATE, VoiceDetector
from ..contract import BargeIn, VoiceIgnored
from ..core.trace import now_ns
from .aec import AEC_RATE, AUDIBLE, EchoCanceller3, aec3_missing
from .echopath import EchoPathDetector
from .rawgate import RawSpeechGate

VOICED = 0.01  # −40 dBFS: the "true onset" level, the same as the app's first voiced sample
WORD_FRAMES = 2  # a run of speech frames this long can begin an utterance: one frame alone is a blip
ONSET_BRIDGE_S = 0.06  # quiet this short inside the user's first words does not split them (the true onset)
# AEC3 starts knowing nothing of the room: in the first second or two of the app's voice a little of the echo gets
# through (fresh listeners in a RT60 0.5 s room, four cancellers: 1-4 frames taken for speech at 1.1-1.6 s of the
# app heard in 7 of 18 runs, none later). No barge-in until it has adapted on this much of the app's voice — once,
# after the listener starts: it stays adapted between requests. (The 3 self-interruptions in 14 fresh starts once
# blamed on adapting were one AEC3 missing the echo's phase: see `bargein.aec`.)
AEC_WARMUP_S = 2.5
# Before that, a frame counts while the echo is measurably cancelled: AEC3's ERLE over the last ½ s of the app's
# voice ≥ ARM_ERLE_DB, after at least that ½ s. Offline (`scripts/aec_arm_try.py`, Piper through RT60 0.3-0.8 s
# rooms, echo delays 40-250 ms, a fan at −50 dBFS, fresh cancellers): the residual's echo passed for speech only
# while that ERLE was 13-14 dB (1.15-1.22 s at RT60 0.8, 0.42 s at 0.3 with a 250 ms delay), never above; it read
# 20-43 dB otherwise. Not latched: in the first ~second AEC3's suppressor alone makes it read ~40 dB before the
# linear filter has converged, and it sank to 14 dB afterwards. The user's own voice lowers it too (it counts as
# echo left over), so a line spoken over the app's first 2.5 s through speakers still waits for the bound.
ARM_ERLE_DB = 20.0
ARM_ERLE_HOPS = 16  # ½ s of the app's voice


CANCELLERS = ("aec3", "gate", "off")


@dataclass
class BargeInConfig:
    min_speech_ms: float = 200.0
    threshold: float = 0.5
    headphones: bool = False  # no canceller: the microphone cannot hear the speakers
    # aec3 | gate | auto: AEC3 where it loads, else the gate; with AEC3, auto also finds out whether the microphone
    # hears the app at all (`bargein.echopath`) and where it does not, the VAD reads the microphone as with
    # headphones. headphones: off
    canceller: str = "auto"
    # AEC3: speech is ¾ of `min_speech_ms` in speech frames within this much longer a window (5 of the last 8
    # frames: offline, in a RT60 0.5 s room, the user was detected within 280 ms; never on the echo alone)
    aec_window_ms: float = 256.0
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
    """Counts speech frames; says when `frames_needed` of the last `window` frames are speech (consecutive when
    the window is no longer) and counts runs too short. The utterance a run belongs to starts at the first
    speech frame after `gap_frames` of non-speech: "Wait, stop" triggers on "stop", but the user started talking
    at "Wait". A run shorter than WORD_FRAMES opens no utterance (a frame of the echo's residual taken for speech
    a third of a second before the user spoke put the onset there: 1 in 12 AEC3 runs on the 2-core VM)."""

    def __init__(self, frames_needed: int, gap_frames: int = 10, window: int | None = None) -> None:
        self.frames_needed = frames_needed
        self.gap_frames = gap_frames
        self.window = max(frames_needed, window or frames_needed)
        self._recent: list[bool] = []
        self._burst = False
        self._hit = False
        self.run = 0
        self.utterance_start_ns = 0
        self.short_runs = 0
        self.echo_runs = 0
        self._echo = 0
        self._quiet = gap_frames  # non-speech frames since the last speech frame
        self._gap = gap_frames  # frames since the last frame of a word (blips not counted as speech)
        self._gap_before = gap_frames  # ...when the run now going on began
        self._run_start_ns = 0

    def push(self, speech: bool, echo: bool, frame_start_ns: int) -> bool:
        """One analysed frame; True when it completes `frames_needed` speech frames in the window."""
        self._echo = self._echo + 1 if echo else 0
        if self._echo == self.frames_needed:
            self.echo_runs += 1  # the app's own voice, long enough that it would have interrupted
        self._recent = [*self._recent, speech][-self.window:]
        if speech:
            if self.run == 0:
                self._run_start_ns, self._gap_before = frame_start_ns, self._gap
            self._quiet = 0
            self.run += 1
            self._burst = True
            hit = sum(self._recent) >= self.frames_needed
            fire, self._hit = hit and not self._hit, hit  # once per time the rule comes true
            if self.run >= WORD_FRAMES or fire:  # a word, not a blip
                if self._gap_before >= self.gap_frames:
                    self.utterance_start_ns, self._gap_before = self._run_start_ns, 0
                self._gap = 0
            if hit:
                self._burst = False
            return fire
        # a blip's frames count as the gap they interrupted (a word's run left the gap at 0)
        self._gap = 1 if self._gap == 0 else self._gap + self.run + 1
        self._quiet += 1
        self._hit = sum(self._recent) >= self.frames_needed
        if self.window == self.frames_needed:  # consecutive frames: a run that ended short
            if 0 < self.run < self.frames_needed:
                self.short_runs += 1
        elif self._burst and self._quiet >= self.window:  # the window emptied of a burst that did not trigger
            self.short_runs += 1
            self._burst = False
        self.run = 0
        return False

    def again(self) -> None:
        """The trigger just given was held back: the next speech frame may give it again."""
        self._hit = False


class BargeInListener:
    """Listens on `mic` while `armed()` names a request; calls `on_trigger(request_id, Trigger)` once per
    request. Runs on a thread of its own: nothing here touches the UI thread or the audio callbacks."""

    def __init__(self, mic: Any, player: Any, armed: Callable[[], str | None],
                 on_trigger: Callable[[str, Trigger], None], config: BargeInConfig | None = None,
                 detector: VoiceDetector | None = None,
                 on_done: Callable[[str, dict[str, Any]], None] | None = None) -> None:
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
        self.frames_processed = 0  # every hop through the canceller, listening or keeping it adapted
        self.busy_ns = 0  # the OS's CPU time of this thread processing them (its per-thread counter)
        self.canceller, self.canceller_note = self._pick_canceller()
        # auto with AEC3: whether the microphone hears the app decides what the VAD reads (`route`)
        self.echo_path = EchoPathDetector() if self.canceller == "aec3" and self.cfg.canceller == "auto" else None
        self._recent_echo: deque[tuple[float, float]] = deque(maxlen=ARM_ERLE_HOPS)  # (mic, residual) energies
        self._aec_heard_s = 0.0  # the app's voice heard since the route became AEC3's
        self._echo_appeared = False  # the route turned from direct to AEC3 while running: arm by the bound only
        self._began_ns: int | None = None  # this request: the ADC time the app was first audible
        self._armed_ns: int | None = None  # this request: when barge-in was first armed while it listened
        self._route_fired: tuple[str, str] | None = None  # the route and its reason when it triggered
        self.echo_held = 0  # triggers on the direct route held back: the far end explained them (since start)
        self._direct_rs = (soxr.ResampleStream(mic.rate, AEC_RATE, 1, dtype="float32")
                           if self.echo_path is not None and mic.rate != AEC_RATE else None)
        self._aec: EchoCanceller3 | None = None
        self.raw_gate: RawSpeechGate | None = None  # AEC3's route: the user's first word from the raw microphone
        if self.canceller == "aec3":
            self._aec = EchoCanceller3(mic.rate, player.rate)
            self.raw_gate = RawSpeechGate(self.cfg.threshold, self.cfg.min_level)
        self._far_pos: int | None = None  # the next far-end frame (player scope position)
        self.far_resyncs = 0  # times the far end was re-aligned to the DAC clock (a jump of the clocks)
        self._echo_energy: list[tuple[int, float, float]] = []  # per frame with the app audible: (ADC, mic, residual)
        self._app_audible = False  # the far end of the frame being analysed had sound
        self.heard_app_s = 0.0  # how much of the app's voice the canceller has adapted on
        self._fired = False
        self._onset_ns = 0

    def _pick_canceller(self) -> tuple[str, str]:
        """(the canceller, why that one): off with headphones or no player, AEC3 where it loads, else the gate."""
        want = self.cfg.canceller
        if want not in (*CANCELLERS, "auto"):
            raise ValueError(f"canceller {want!r}: use one of {', '.join(CANCELLERS)} or auto")
        if self.cfg.headphones or self.player is None or want == "off":
            return "off", "headphones: the microphone cannot hear the app"
        if want == "gate":
            return "gate", "the single-tap echo gate (asked for)"
        missing = aec3_missing()
        if missing is None:
            return "aec3", "WebRTC AEC3 cancels the app's voice in the microphone"
        if want == "aec3":
            raise RuntimeError(missing)
        return "gate", f"{missing}; the single-tap echo gate is used instead (fine with headphones or a clean path)"

    def start(self) -> BargeInListener:
        self._thread = threading.Thread(target=self._main, name="barge-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def ignored(self) -> dict[str, Any]:
        """For the current/last request: speech bursts shorter than the minimum, stretches of the app's own voice
        long enough to have interrupted without the gate, the canceller, and its echo return loss enhancement
        (microphone over residual energy while the app was audible, before the user spoke; None if it never was,
        or the VAD read the microphone directly); what the VAD read (`route`, at the trigger if there was one)
        and why; when barge-in was first armed, in ms after the app was first audible in the request (0: armed
        before; None: never); how often auto changed its mind since the listener started."""
        route, reason = self._route_fired or (self.route, self.route_reason)
        armed = (None if self._armed_ns is None else 0.0 if self._began_ns is None
                 else round(max(0, self._armed_ns - self._began_ns) / 1e6, 1))
        return {"too_short": self.runs.short_runs, "own_voice": self.runs.echo_runs, "canceller": self.canceller,
                "erle_db": self._erle_db() if route != "direct" else None, "route": route, "route_reason": reason,
                "armed_ms": armed, "route_changes": self.echo_path.changes if self.echo_path is not None else 0}

    @property
    def route(self) -> str:
        """What the VAD reads: "aec3" (AEC3's residual), "direct" (the microphone: it does not hear the app, or
        headphones), "gate" (the gate's residual), or "undecided" (auto, before the app said enough to tell)."""
        if self.canceller in ("off", "gate"):
            return "direct" if self.canceller == "off" else "gate"
        if self.echo_path is None:
            return "aec3"
        return self.echo_path.route or "undecided"

    @property
    def route_reason(self) -> str:
        """Why `route`: asked for, or what the echo-path detector measured."""
        if self.echo_path is None:
            return self.canceller_note
        return self.echo_path.reason

    @property
    def recent_erle_db(self) -> float | None:
        """AEC3's echo return loss enhancement over the last ½ s of the app's voice (None: not that much yet)."""
        if len(self._recent_echo) < ARM_ERLE_HOPS:
            return None
        mic, res = sum(m for m, _ in self._recent_echo), sum(r for _, r in self._recent_echo)
        return round(10 * math.log10(max(mic, 1e-12) / max(res, 1e-12)), 1)

    @property
    def ready(self) -> bool:
        """Barge-in may fire now: the route is known, and through AEC3 it has adapted on `AEC_WARMUP_S` of the
        app's voice, or the echo is measurably cancelled right now (ERLE over the last ½ s ≥ `ARM_ERLE_DB`; not
        after an echo appeared mid-way)."""
        route = self.route
        if route == "undecided":
            return False
        if route != "aec3":
            return True
        erle = None if self._echo_appeared else self.recent_erle_db  # then only the bound arms it
        return self._aec_heard_s >= AEC_WARMUP_S or (erle is not None and erle >= ARM_ERLE_DB)

    @property
    def adapting(self) -> bool:
        """Listening through AEC3 (or not yet knowing whether to) and not `ready`: no barge-in meanwhile."""
        return self._aec is not None and not self.ready

    @property
    def cpu_us_per_frame(self) -> float:
        """CPU (the OS's counter for this thread) per 32 ms of microphone processed."""
        return round(self.busy_ns / max(1, self.frames_processed) / 1000, 1)

    def _erle_db(self) -> float | None:
        # before the user spoke: the earlier of the onsets, less the VAD's look-back (frames of the user's voice
        # the suppressor held back would count as echo left over)
        until = min(self.runs.utterance_start_ns, self._onset_ns) - 250_000_000 if self._fired else None
        rows = [(m, r) for t, m, r in self._echo_energy if until is None or t < until]
        mic, res = sum(m for m, _ in rows), sum(r for _, r in rows)
        if self.canceller == "off" or not rows or mic <= 0:
            return None
        return round(10 * math.log10(mic / max(res, 1e-12)), 1)

    # ---- the thread ---------------------------------------------------------------------------------
    def _main(self) -> None:
        rate = self.mic.rate
        hop = round(VAD_FRAME * rate / VAD_RATE)  # 32 ms of microphone frames
        lead = int(self.cfg.max_echo_lead_ms * rate / 1000)
        max_delay = int(self.cfg.max_echo_delay_ms * rate / 1000)
        res_rate = AEC_RATE if self._aec is not None else rate  # the residual's rate
        history = np.zeros(int(2.0 * res_rate), np.float32)  # the residual, for the true onset
        pos = self.mic.pos
        self._fired = False
        while not self._stop.wait(0.008):
            rid = self.armed()
            if rid != self.request_id:
                if self.request_id is not None and self.on_done is not None:
                    self.on_done(self.request_id, self.ignored())
                self._new_request(rid, rate)
            listening = rid is not None and not self._fired
            if not listening and self._aec is None:
                pos = self.mic.pos  # nothing to keep adapted: skip what came meanwhile
                continue
            while self.mic.pos - pos >= hop:
                t0, cpu0 = time.perf_counter_ns(), time.thread_time_ns()
                start, frame, adc = self.mic.read(pos)
                if start > pos:
                    self._far_pos = None  # frames were lost (the ring overran): re-align the far end
                frame = frame[:hop]
                far = self._far(adc, hop, lead) if self._aec is not None else None
                if self._aec is not None and far is None:
                    break  # what the speakers played for this frame is not all in the scope yet
                if self._aec is None and not self._reference_ready(adc + int((hop + lead) * 1e9 / rate), t0):
                    break  # what the speakers played around this frame is not all in the scope yet
                pos = start + hop
                mic_e = float(np.dot(frame, frame))
                mic16 = far16 = None
                if self._aec is not None and far is not None:
                    mic16, residual = self._aec.process(frame, far)
                    far16 = self._aec.last_far
                    mic_e, echo_share = float(np.dot(mic16, mic16)), 0.0
                    residual = self._route_aec(frame, mic16, residual, mic_e, hop / rate)
                else:
                    residual, echo_share = self._gate(frame, adc, hop, lead, max_delay)
                history = np.concatenate([history[len(residual):], residual])
                if self._app_audible:
                    self.heard_app_s += hop / rate
                    if self._began_ns is None and listening:
                        self._began_ns = adc
                self.frames_processed += 1
                if not listening:
                    self.busy_ns += time.thread_time_ns() - cpu0
                    continue
                if self._app_audible:
                    self._echo_energy.append((adc, mic_e, float(np.dot(residual, residual))))
                speech = self._speech(residual)
                level = math.sqrt(float(np.mean(residual * residual))) if len(residual) else 0.0
                raw = (self.raw_gate is not None and mic16 is not None and far16 is not None
                       and self.route == "aec3" and self.raw_gate.push(mic16, far16, speech))
                echo = echo_share >= self.cfg.echo_share and self.canceller == "gate"
                ready = self.ready
                if ready and self._armed_ns is None:
                    self._armed_ns = adc
                is_speech = ready and not echo and (raw or (speech and level >= self.cfg.min_level))
                done = self.runs.push(is_speech, echo and math.sqrt(float(np.mean(frame * frame))) >=
                                      self.cfg.min_level, adc)
                self.frames_analysed += 1
                if done and self._echo_explains():
                    done = False
                    self.runs.again()
                self.busy_ns += time.thread_time_ns() - cpu0
                if done:
                    onset = self.runs.utterance_start_ns
                    trig = Trigger(onset, self._true_onset(history, adc + int(hop * 1e9 / rate), onset, res_rate),
                                   now_ns())
                    self._fired = True
                    self._onset_ns = trig.true_onset_ns
                    self._route_fired = (self.route, self.route_reason)
                    listening = False
                    self.on_trigger(rid, trig)  # type: ignore[arg-type]  # listening: rid is set
        if self.request_id is not None and self.on_done is not None:
            self.on_done(self.request_id, self.ignored())

    def _new_request(self, rid: str | None, rate: int) -> None:
        self.request_id = rid
        frame_ms = VAD_FRAME * 1000 / VAD_RATE
        need = max(1, math.ceil(self.cfg.min_speech_ms / frame_ms))
        window = need
        if self.canceller == "aec3":  # k of the last n frames (see the module docstring); 5 of 8 by default
            need = max(1, round(0.75 * need))
            window = max(need, round(self.cfg.aec_window_ms / frame_ms))
        self.runs = SpeechRuns(need, window=window)
        self.vad.reset()
        if self.raw_gate is not None:
            self.raw_gate.reset()
        self._resampler = (self._soxr.ResampleStream(rate, VAD_RATE, 1, dtype="float32")
                           if rate != VAD_RATE and self._aec is None else None)
        self._pending = np.zeros(0, np.float32)
        self._last_speech = False
        self._fired = False
        self._onset_ns = 0
        self._echo_energy = []
        self._app_audible = False
        self._began_ns = self._armed_ns = None
        self._route_fired = None

    def _route_aec(self, frame: np.ndarray, mic16: np.ndarray, residual: np.ndarray, mic_e: float,
                   seconds: float) -> np.ndarray:
        """AEC3 has processed a hop: tell the echo-path detector, keep the ERLE that arms barge-in, and give what
        the VAD reads — the residual, or where the route is direct the microphone itself, resampled as in
        headphones mode (AEC3's copy of it comes out in whole 10 ms frames, as far as the far end goes: live, the
        onsets it gave were 35-110 ms late and a first word was lost now and then)."""
        direct = self._direct_rs.resample_chunk(frame) if self._direct_rs is not None else frame
        if self.echo_path is not None:
            before = self.echo_path.route
            self.echo_path.push(mic16, self._aec.last_far if self._aec is not None else np.zeros_like(mic16))
            if self.echo_path.route == "aec3" and before != "aec3":  # the echo appeared: AEC3 adapts from here
                self._aec_heard_s = 0.0
                self._recent_echo.clear()
                # mid-way (a headset unplugged), AEC3 re-adapts from a state that had no echo to cancel: its ERLE
                # read high while echo still leaked (live, 1 of 6 runs interrupted itself 1.4 s after the switch)
                self._echo_appeared = before == "direct"
                if self.raw_gate is not None:
                    self.raw_gate.forget()  # what it learnt of the room before is not this echo
        if self._app_audible:
            self._aec_heard_s += seconds
            self._recent_echo.append((mic_e, float(np.dot(residual, residual))))
        return residual if self.route == "aec3" else np.asarray(direct, np.float32)  # undecided: nothing fires

    def _echo_explains(self) -> bool:
        """On the direct route, whether the app's own voice explains what the VAD heard: the echo-path detector's
        look over the window, now rather than at its next decision. A headset unplugged mid-paragraph makes the
        microphone hear the app before the route turns to AEC3 (the VAD needs 160 ms, the detector two looks 250
        ms apart): such a trigger is held back, and looked at again on every speech frame after it (a user's
        line still fires at the first look that the far end does not explain; 2.6 ms each)."""
        if self.route != "direct" or self.echo_path is None or not self._app_audible:
            return False
        corr, _ = self.echo_path.best_correlation()
        if corr < self.echo_path.echo_corr:
            return False
        self.echo_held += 1
        return True

    def _reference_ready(self, until_ns: int, now: int) -> bool:
        """The player's scope reaches `until_ns` (DAC time), or waiting longer is pointless (no canceller, or a
        player whose callbacks stopped for 200 ms: it is closed or gone, and plays nothing)."""
        if self.canceller == "off":
            return True
        return self.player.sent_until_ns() >= until_ns or now - until_ns > 200_000_000

    def _far(self, adc_ns: int, hop: int, lead: int) -> np.ndarray | None:
        """The far end for the microphone frames from `adc_ns`: what the player sent from `lead` later on the DAC
        clock, contiguous with the previous call's (re-aligned when the clocks jumped by more than 20 ms). None
        while it is not all in the scope yet; silence where it never will be (the stream is closed or stalled, or
        it is already out of the scope)."""
        p = self.player
        n = round(hop * p.rate / self.mic.rate)
        want = p.scope_pos_at(adc_ns + int(lead * 1e9 / self.mic.rate))
        if self._far_pos is None or abs(self._far_pos - want) > p.rate // 50:
            if self._far_pos is not None:
                self.far_resyncs += 1
            self._far_pos = want
        far = p.sent_frames(self._far_pos, n)
        if far is None and self._far_pos + n > p.scope_pos and p.seconds_since_callback() < 0.2:
            return None  # still to be played: wait for it
        self._far_pos += n
        if far is None:
            self._app_audible = False
            return np.zeros(n, np.float32)
        self._app_audible = float(np.max(np.abs(far), initial=0.0)) >= AUDIBLE
        return np.asarray(far, np.float32)

    def _gate(self, frame: np.ndarray, adc_ns: int, hop: int, lead: int, max_delay: int
              ) -> tuple[np.ndarray, float]:
        if self.canceller == "off":
            return frame, 0.0
        ref = self.player.sent_at(adc_ns - int(max_delay * 1e9 / self.mic.rate), max_delay + hop + lead)
        if ref is not None and self.player.rate != self.mic.rate:
            ref = self._soxr.resample(ref, self.player.rate, self.mic.rate).astype(np.float32)
        self._app_audible = ref is not None and float(np.max(np.abs(ref), initial=0.0)) >= AUDIBLE
        if ref is not None and float(np.max(np.abs(ref), initial=0.0)) < 1e-4:
            ref = None  # the speakers were silent: nothing to hear of ourselves
        return remove_echo(frame, ref, lead)

    def _speech(self, residual: np.ndarray) -> bool:
        """The VAD's verdict on the residual (at 16 kHz already after AEC3, else resampled here)."""
        x = self._resampler.resample_chunk(residual) if self._resampler is not None else residual
        self._pending = np.concatenate([self._pending, np.asarray(x, np.float32)])
        while len(self._pending) >= VAD_FRAME:  # resampling may leave a hop one VAD frame short: keep the last
            p = self.vad.speech_probability(self._pending[:VAD_FRAME])
            self._pending = self._pending[VAD_FRAME:]
            self._last_speech = p >= self.cfg.threshold
        return self._last_speech

    @staticmethod
    def _true_onset(history: np.ndarray, history_end_ns: int, vad_onset_ns: int, rate: int) -> int:
        """The first sample above −40 dBFS — or above 4× the residual's RMS in the 250 ms before, where what is
        left of the app's echo and the room's noise is louder than that — of the loud stretch that leads into the
        VAD onset, searched from 250 ms before it; the VAD onset if none. (In a RT60 0.5 s room the fixed level
        alone put the onset up to 85 ms early.) A stretch is 5 ms windows holding such a sample, quiet gaps under
        ONSET_BRIDGE_S bridged (a stop's closure inside a word): a separate burst before it — a click, the tail
        of a syllable of the echo — is not where the user began (one such put an onset 111 ms early in CI)."""
        t_first = history_end_ns - int(len(history) * 1e9 / rate)
        lo = max(0, int((vad_onset_ns - 250_000_000 - t_first) * rate / 1e9))
        before = history[max(0, lo - rate // 4):lo]
        floor = 4 * math.sqrt(float(np.mean(before * before))) if len(before) else 0.0
        win = max(1, rate // 200)
        seg = history[lo:lo + (len(history) - lo) // win * win]
        loud = np.flatnonzero(np.abs(seg).reshape(-1, win).max(axis=1) > max(VOICED, floor))
        vad_win = (int((vad_onset_ns - t_first) * rate / 1e9) - lo) // win
        bridge = int(ONSET_BRIDGE_S * rate) // win
        if not loud.size:
            return vad_onset_ns
        cuts = np.flatnonzero(np.diff(loud) > bridge) + 1  # stretches: loud windows, gaps up to `bridge` bridged
        starts, ends = loud[np.r_[0, cuts]], loud[np.r_[cuts - 1, loud.size - 1]]
        reach = np.flatnonzero((starts <= vad_win + bridge) & (ends + bridge >= vad_win))
        if not reach.size:
            return vad_onset_ns
        start = int(starts[reach[-1]])  # the stretch that leads into the VAD onset
        first = np.flatnonzero(np.abs(seg[start * win:(start + 1) * win]) > max(VOICED, floor))
        return min(vad_onset_ns, t_first + int((lo + start * win + int(first[0])) * 1e9 / rate))


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
        req.trace.add(BargeIn(trig.trigger_ns, req.id, speech_onset_ns=trig.speech_onset_ns,
                              true_onset_ns=trig.true_onset_ns, canceller=self.listener.canceller))
        self.triggers.append((request_id, trig))
        self._cancel(request_id)

    def _done(self, request_id: str, ignored: dict[str, Any]) -> None:
        req = self._requests.pop(request_id, None)
        if req is not None:
            req.trace.add(VoiceIgnored(now_ns(), req.id, too_short=int(ignored["too_short"]),
                                       own_voice=int(ignored["own_voice"]), canceller=ignored.get("canceller"),
                                       erle_db=ignored.get("erle_db"), route=ignored.get("route"),
                                       route_reason=ignored.get("route_reason"), armed_ms=ignored.get("armed_ms"),
                                       route_changes=int(ignored.get("route_changes") or 0)))

    def close(self) -> None:
        self.listener.stop()
        self.mic.close()
