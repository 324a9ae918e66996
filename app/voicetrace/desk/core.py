"""What the desktop window drives, without Qt: the warm engines (chunk sources), the output device with its session,
the requests in flight and the records of finished ones (with the metrics log). Every method returns at
once: loading runs on the engines' own threads and opening a device is done by the caller off the UI thread."""

from __future__ import annotations

import contextlib
import json
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..audio.devices import OutputDevice, list_output_devices, mark_lost, rescan_devices
from ..audio.player import Player
from ..contract import RequestMetrics
from ..core.pipeline import LocalSource
from ..core.save import SpeechFile
from ..core.session import Request, Session
from ..core.source import ChunkSource
from ..core.trace import now_ns
from ..errors import DeviceError, UserError

# Loaded at start (the chosen one first) so switching engines is instant; user models load when chosen.
PRELOAD = ("kokoro", "piper")
REMOTE = "remote"  # the engine id of a remote server (connected with `connect_remote`)
HISTORY = 500  # finished request records kept for the table and graphs
MIC_SILENT_S = 2.0  # a microphone that has not called back for this long has stopped


@dataclass
class EngineStatus:
    engine_id: str
    state: str  # not started | loading | warming | ready | error
    error: str | None


@dataclass(frozen=True)
class VoiceState:
    """What the window shows of barge-in by voice while it listens (read-only, taken each tick)."""
    canceller: str  # aec3 | gate | off (headphones)
    canceller_note: str  # why that canceller
    adapting: bool  # AEC3 is still learning the room: speech over the app is not trusted yet
    mic_stopped: bool  # the microphone has not called back for MIC_SILENT_S (unplugged?)
    route: str = "aec3"  # what the VAD reads: aec3 | direct | gate | undecided (auto decides while it listens)
    route_reason: str = ""  # why: asked for, or what the echo-path detector measured


class DeskCore:
    def __init__(self, metrics_log: str | Path | None = None,
                 engines: dict[str, ChunkSource] | None = None) -> None:
        """`engines`: sources already warm (tests share theirs); the core stops only those it started."""
        self.engines: dict[str, ChunkSource] = dict(engines or {})
        self._borrowed = set(self.engines)
        self.player: Player | None = None
        self.session: Session | None = None
        self.device_error: str | None = None
        self.metrics_log = Path(metrics_log) if metrics_log else None
        self.records: deque[RequestMetrics] = deque(maxlen=HISTORY)
        self.records_version = 0  # bumps whenever a record is added: the window redraws history then
        self._messages: deque[str] = deque()  # for the user, from any thread; the window takes them
        self._releasing: threading.Thread | None = None
        self._active: list[Request] = []
        self._finishing: list[tuple[Request, Session]] = []
        self._by_id: dict[str, RequestMetrics] = {}
        self._lock = threading.Lock()
        self.voice: Any = None  # VoiceBargeIn while barge-in by voice is on
        self._record_added = threading.Condition(self._lock)
        self.kokoro_stream = True  # Kokoro decodes each phrase in pieces (False: whole, phrase at a time)

    # ---- engines -----------------------------------------------------------------------------------
    def start_engine(self, engine_id: str) -> ChunkSource:
        """Start loading an engine on its own worker thread (once); returns at once."""
        with self._lock:
            src = self.engines.get(engine_id)
            if src is not None:
                return src
            if engine_id == REMOTE:
                raise UserError("the remote engine has no server yet", "enter its URL and press Connect")
            src = self.engines[engine_id] = LocalSource.load(engine_id, stream_phrase=self.kokoro_stream)
        return src

    def set_kokoro_stream(self, on: bool) -> None:
        """Kokoro in pieces or phrase at a time, from the next request on (to compare by ear)."""
        self.kokoro_stream = on
        with self._lock:
            for src in self.engines.values():
                if isinstance(src, LocalSource):
                    src.stream_phrase = on

    def connect_remote(self, url: str, token: str | None = None, model: str | None = None) -> ChunkSource:
        """(Re)connect the Remote engine to a server; returns at once (connecting runs on its own thread).
        Anything it was playing is interrupted first. Raises UserError for a URL it cannot use."""
        from ..remote.source import RemoteSource

        remote = RemoteSource(url.strip(), token or None, model or None)
        self.interrupt()
        with self._lock:
            old = self.engines.get(REMOTE)
            self.engines[REMOTE] = remote
            self._borrowed.discard(REMOTE)
        if old is not None:
            old.stop()
        return remote.start()

    def preload_next(self, known: Collection[str]) -> None:
        """Start loading the next of PRELOAD (those in `known`, the catalog) not loaded yet, one at a time and
        only while nothing speaks: loading competes for the same cores (the greeting's TTFA went from ~0.5 to
        0.94 s with Piper loading beside it)."""
        if self.is_busy():
            return
        for other in PRELOAD:
            if other in known and other not in self.engines:
                self.start_engine(other)
                return

    def engine_status(self, engine_id: str) -> EngineStatus:
        src = self.engines.get(engine_id)
        if src is None:
            return EngineStatus(engine_id, "not started", None)
        err = None if src.error is None else str(src.error)
        return EngineStatus(engine_id, src.state, err)

    def voices(self, engine_id: str) -> list[str]:
        src = self.engines.get(engine_id)
        if src is None or src.state != "ready":
            return []
        return list(src.voices())

    def default_voice(self, engine_id: str) -> str | None:
        src = self.engines.get(engine_id)
        return None if src is None else src.default_voice

    # ---- device ------------------------------------------------------------------------------------
    def open_device(self, spec: str | int | None) -> Player:
        """Open (or switch to) an output device. Blocking (PortAudio): call it off the UI thread. Anything
        playing on the old device is interrupted first."""
        player = Player(spec)
        player.start()
        # The session shares the core's table of engines: one loaded later is seen by it too.
        session = Session(player, self.engines, on_stall=lambda why: self._stalled(session, why))
        with self._lock:
            old_player, old_session = self.player, self.session
            self.player, self.session = player, session
            self.device_error = None
        if self.voice is not None:
            self.voice.listener.player = player  # the gate's reference: what the new device plays
        if old_session is not None:
            old_session.close()
        if old_player is not None:
            old_player.close()
        return player

    def check_device(self) -> str | None:
        """Why the device was lost, if it was. The session's watchdog (core/watchdog.py) notices a stream that
        stopped calling back (unplugged, server gone or stalled), fails what was playing with its message and
        calls `lose_device` with it: the window's banner says that message and what to do."""
        return self.device_error

    def _stalled(self, session: Session, why: str) -> None:
        """The session's watchdog: its stream stopped calling back (it failed what was playing)."""
        if self.session is session:  # not one a device switch already replaced
            self.lose_device(why)

    def lose_device(self, why: str) -> None:
        with self._lock:
            session, player = self.session, self.player
            self.session = self.player = None
            self.device_error = why
        if player is not None:
            mark_lost(player.device)
        with self._lock:
            active = list(self._active)
        for req in active:
            if session is not None and not req.finished.is_set() and req.id in session.request_ids():
                session.fail(req.id, why)

        def release() -> None:  # PortAudio can wait seconds for a vanished server: never on the UI thread
            if session is not None:
                session.close()
            if player is not None:
                player.close()

        self._releasing = threading.Thread(target=release, name="release-device", daemon=True)
        self._releasing.start()

    # ---- barge-in by voice -------------------------------------------------------------------------
    def start_voice_barge_in(self, input_spec: str | int | None, headphones: bool,
                             min_speech_ms: float = 200.0, canceller: str = "auto") -> str:
        """Listen to the microphone while speaking; user speech interrupts, the same path as the Interrupt
        button. Blocking (opens the microphone): call it off the UI thread. Returns the microphone's name."""
        from ..bargein.listener import BargeInConfig, VoiceBargeIn

        self.stop_voice_barge_in()
        if self.player is None:
            raise DeviceError("no output device is open", "barge-in by voice listens while the app speaks")
        self.voice = VoiceBargeIn(self.player, self.current, lambda _rid: self.interrupt(), input_spec,
                                  BargeInConfig(min_speech_ms=min_speech_ms, headphones=headphones,
                                                canceller=canceller))
        return str(self.voice.mic.device.name)

    def voice_state(self) -> VoiceState | None:
        """What barge-in by voice is doing now; None when it is not listening."""
        v = self.voice
        if v is None:
            return None
        listener = v.listener
        return VoiceState(listener.canceller, listener.canceller_note, listener.adapting,
                          v.mic.seconds_since_callback() > MIC_SILENT_S, listener.route, listener.route_reason)

    def stop_voice_barge_in(self) -> None:
        voice, self.voice = self.voice, None
        if voice is not None:
            voice.close()

    def list_input_devices(self) -> list[OutputDevice]:
        from ..audio.devices import list_input_devices

        return list_input_devices()

    def list_devices(self) -> list[OutputDevice]:
        """The output devices now. With no device open, PortAudio is re-initialised first so devices plugged
        in since start show up. Blocking: call it off the UI thread."""
        if self.player is None and (self._releasing is None or not self._releasing.is_alive()):
            rescan_devices()
        return list_output_devices()

    # ---- requests ----------------------------------------------------------------------------------
    def speak(self, text: str, engine_id: str, voice: str | None, speed: float,
              t_submit_ns: int | None = None) -> Request:
        """Interrupt what is playing (a new request barges in), then submit. Raises UserError."""
        t = now_ns() if t_submit_ns is None else t_submit_ns
        return self._start(engine_id, lambda s: s.submit(text, engine_id, voice or None, speed, t_submit_ns=t))

    def _start(self, engine_id: str, start: Callable[[Session], Request]) -> Request:
        session = self.session
        if session is None:
            raise DeviceError(self.device_error or "no audio output device is open",
                              "connect a device or start a sound server, then press Refresh")
        self._check_engine(engine_id)
        self.interrupt()
        req = start(session)
        with self._lock:
            self._active.append(req)
            self._finishing.append((req, session))
        return req

    def save_speech(self, text: str, engine_id: str, voice: str | None, speed: float, path: str) -> SpeechFile:
        """Synthesise `text` into `path` (its format by the extension) beside whatever plays, on the same warm
        engine; returns at once (`SpeechFile.progress`, `.cancel`, `.done`). Raises UserError (a bad text,
        format or folder, an engine not loaded)."""
        self._check_engine(engine_id)
        src = self.engines[engine_id]
        saving = SpeechFile(src, path, lambda s: s.submit(text, engine_id, voice or None, speed))
        try:
            return saving.start()
        except BaseException:
            saving.writer.abort()
            saving.session.close()
            raise

    def speak_stream(self, pieces: Iterable[str], engine_id: str, voice: str | None, speed: float,
                     on_piece: Callable[[str], None] | None = None, on_cancel: Callable[[], None] | None = None
                     ) -> Request:
        """Like speak, for text that arrives in pieces (a chat model's reply, or a simulated one): a thread
        feeds them as they come, handing each to `on_piece` (the window shows them) and ending the request
        after the last. A barge-in stops the feeding and calls `on_cancel` (which closes the model's request).
        A source that fails is said in a message (`take_messages`); what came is spoken."""
        t = now_ns()
        req = self._start(engine_id, lambda s: s.open(engine_id, voice or None, speed, t_submit_ns=t))
        threading.Thread(target=self._feed, args=(req, pieces, on_piece, on_cancel), name="desk-text",
                         daemon=True).start()
        return req

    def _feed(self, req: Request, pieces: Iterable[str], on_piece: Callable[[str], None] | None,
              on_cancel: Callable[[], None] | None) -> None:
        try:
            for piece in pieces:
                if req.stop.is_set():
                    break
                req.feed(piece)
                if on_piece is not None:
                    on_piece(piece)
        except UserError as exc:
            if not req.stop.is_set():
                self._messages.append(f"The text stopped early: {exc}")
        except Exception as exc:  # the feeding side broke: say so, speak what came
            self._messages.append(f"The text stopped early: {type(exc).__name__}: {exc}")
        if req.stop.is_set():
            if on_cancel is not None:
                on_cancel()
            return
        with contextlib.suppress(UserError):  # cancelled meanwhile
            req.end()

    def _check_engine(self, engine_id: str) -> None:
        src = self.engines.get(engine_id)
        if src is None:
            raise UserError(f"engine {engine_id} is not started", "choose it in the engine list to load it")
        if src.state == "error":
            raise UserError(f"engine {engine_id} failed to load: {src.error}",
                            "choose another engine; `voicetrace models --verify` checks the files")

    def interrupt(self) -> list[str]:
        """Barge-in: cancel every request still playing or being synthesised. Returns their ids."""
        with self._lock:  # each request is cancelled through its own session (the device may have changed)
            active = [(r, s) for r, s in self._finishing if not r.finished.is_set()]
        cancelled = [r.id for r, s in active if s.cancel(r.id)]
        if self.session is not None:
            self.session.resume()  # the flush is taken first (same callback): the cut request stays silent
        return cancelled

    def toggle_pause(self) -> bool | None:
        """Pause what plays, or resume it: True paused, False resumed, None nothing was playing."""
        session = self.session
        if session is None:
            return None
        if session.paused:
            session.resume()
            return False
        return True if session.pause() else None

    @property
    def paused(self) -> bool:
        return self.session is not None and self.session.paused

    def current(self) -> Request | None:
        """The request the listener hears now (or the last one started)."""
        with self._lock:
            live = [r for r in self._active if not r.finished.is_set()]
            if live:
                return live[0]
            return self._active[-1] if self._active else None

    def standby(self) -> None:
        """Nothing has played for a while: close the output stream (it reopens for the next request). Not
        while barge-in by voice listens (its echo gate follows the player's clock)."""
        p = self.player
        if p is None or self.voice is not None or self.is_busy() or self.has_pending() or p.in_standby:
            return
        threading.Thread(target=p.standby, name="player-standby", daemon=True).start()

    def wake_output(self) -> None:
        """The user is about to speak (typing, a click): reopen a stream closed by standby, off the UI thread,
        so the request does not wait for it."""
        p = self.player
        if p is not None and p.in_standby:
            threading.Thread(target=p.wake, name="player-wake", daemon=True).start()

    def has_pending(self) -> bool:
        """Requests that ended and wait to settle into records."""
        with self._lock:
            return bool(self._finishing)

    def is_busy(self) -> bool:
        with self._lock:
            return any(not r.finished.is_set() for r in self._active)

    def poll_finished(self) -> list[RequestMetrics]:
        """Turn requests that finished (and settled) into records; append them to the metrics log."""
        new: list[RequestMetrics] = []
        with self._lock:
            keep = []
            for req, session in self._finishing:
                if not req.settled():
                    keep.append((req, session))
                    continue
                new.append(session.record(req))
            self._finishing = keep
            done = [r for r in self._active if r.finished.is_set()]
            # keep what is live and the last one finished (its timeline stays on screen), in submit order
            self._active = [r for r in self._active if not r.finished.is_set() or r is done[-1]]
            for rec in new:
                self.records.append(rec)
                self._by_id[rec.request_id] = rec
            if new:
                self.records_version += 1
                self._record_added.notify_all()
            if len(self._by_id) > HISTORY * 2:
                keep_ids = {r.request_id for r in self.records}
                self._by_id = {k: v for k, v in self._by_id.items() if k in keep_ids}
        if new and self.metrics_log is not None:
            self._append_log(new)
        return new

    def record_of(self, request_id: str, timeout: float = 10.0, poll: Callable[[], object] | None = None) -> \
            RequestMetrics | None:
        """Wait for a request's record (another thread polls, or `poll` is called here)."""
        deadline = now_ns() + int(timeout * 1e9)
        while now_ns() < deadline:
            if poll is not None:
                poll()
            with self._lock:
                rec = self._by_id.get(request_id)
                if rec is not None:
                    return rec
                self._record_added.wait(0.05)
        return None

    def _append_log(self, records: list[RequestMetrics]) -> None:
        assert self.metrics_log is not None
        try:
            self.metrics_log.parent.mkdir(parents=True, exist_ok=True)
            with self.metrics_log.open("a", encoding="utf-8") as fh:
                for rec in records:
                    fh.write(json.dumps(rec.to_dict()) + "\n")
        except OSError as exc:
            # The app keeps working without the log; the window shows this once.
            self._messages.append(f"cannot append to the metrics log {self.metrics_log} ({exc.strerror})")
            self.metrics_log = None

    def take_messages(self) -> list[str]:
        """What the user should read (a log that cannot be written, a text stream that broke), oldest first,
        each handed out once."""
        taken = []
        while self._messages:
            taken.append(self._messages.popleft())
        return taken

    def close(self) -> None:
        """Interrupt what plays, log it like any finished request, then release the device and engines."""
        self.stop_voice_barge_in()
        self.interrupt()
        with self._lock:
            pending = [r for r, _ in self._finishing]
        for req in pending:
            req.wait_settled(1.0)
        if pending:
            self.poll_finished()
        session, player = self.session, self.player
        if session is not None:
            session.close()
        if player is not None:
            player.close()
        for engine_id, src in self.engines.items():
            if engine_id not in self._borrowed:
                src.stop()
