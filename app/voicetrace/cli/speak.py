"""`voicetrace speak`: speak text through the output device (or into a WAV file) and report its record."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..contract import RequestMetrics
from ..core.pipeline import LocalSource
from ..core.session import Request, Session, check_speed
from ..core.source import ChunkSource
from ..engines.catalog import find_model
from ..errors import DeviceError, UserError
from ..text.normalize import MAX_TEXT_CHARS, clean_input

SAMPLE_TEXT = ("Hello! This is VoiceTrace, speaking with the embedded default voice, "
               "and measuring how fast the first sound came.")
WAV_MAX_S = 1800.0  # the capture buffer is preallocated (the callback cannot grow it): 30 min, 173 MB


def read_text(args: argparse.Namespace) -> str:
    if args.sample:
        return SAMPLE_TEXT
    if args.file:
        try:
            raw = Path(args.file).read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read {args.file} ({exc.strerror})", "check the path") from exc
        source = args.file
    elif args.text == "-" or (args.text is None and not sys.stdin.isatty()):
        raw = sys.stdin.buffer.read(MAX_TEXT_CHARS * 4 + 1)
        source = "standard input"
    elif args.text is not None:
        return str(args.text)
    else:
        raise UserError("no text given", "pass TEXT, -f FILE, - for standard input, or --sample")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{source} is not valid UTF-8 text (bad byte at offset {exc.start})",
                        "save it as UTF-8") from exc


def _source(args: argparse.Namespace) -> ChunkSource:
    if args.engine == "remote":
        from ..remote.source import RemoteSource

        return RemoteSource(args.url, args.token or os.environ.get("VOICETRACE_TOKEN"), args.model).start()
    return LocalSource.load(args.engine, stream_phrase=getattr(args, "kokoro_mode", "stream") == "stream")


def cmd_speak(args: argparse.Namespace) -> int:
    if args.stream:
        if args.text not in (None, "-") or args.file or args.sample:
            raise UserError("--stream speaks standard input as it arrives", "pipe the text in: … | voicetrace "
                            "speak --stream -")
        return report(args, *speak_request(args, lambda s, eng: s.open(eng, args.voice, args.speed),
                                           feed_from=_stdin_pieces()))
    text = clean_input(read_text(args))
    return report(args, *speak_request(args, lambda s, eng: s.submit(text, eng, args.voice, args.speed),
                                       text_chars=len(text)))


def _stdin_pieces() -> Iterator[str]:
    """Standard input as it arrives (a pipe hands over what the writer flushed), decoded as UTF-8."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    fd = sys.stdin.fileno()
    while True:
        block = os.read(fd, 4096)
        try:
            piece = decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            raise UserError("standard input is not valid UTF-8 text", "send UTF-8") from exc
        if piece:
            yield piece
        if not block:
            return


def speak_request(args: argparse.Namespace, start: Callable[[Session, str], Request], text_chars: int = 0,
                  feed_from: Iterable[str] | None = None, on_cancel: Callable[[], None] | None = None
                  ) -> tuple[RequestMetrics, dict[str, Any]]:
    """Open the device and the engine, start the request (`start`), feed it `feed_from` on a thread when its
    text streams in, wait (interrupting it after --cancel-after or Ctrl-C; `on_cancel` then stops what feeds
    it), and return its settled record with the JSON object to print."""
    check_speed(args.speed)
    if args.engine == "remote" and not args.url:
        raise UserError("--engine remote needs --url", "e.g. --url ws://gpu-box:8880 (a `voicetrace serve`) or "
                        "--url http://host:port for an OpenAI-compatible server")
    if args.engine != "remote":
        find_model(args.engine)  # an unknown model is said before anything loads
    if args.cancel_after is not None and not (0 <= args.cancel_after < 3600):
        raise UserError(f"--cancel-after {args.cancel_after} is out of range", "give seconds from 0 to 3600")
    if getattr(args, "barge_in", None) == "voice":
        from ..audio.devices import resolve_input_device

        resolve_input_device(args.input_device)  # a missing microphone is said before anything loads

    from ..audio.player import Player

    out = getattr(args, "out", None)
    if out:
        if args.engine == "remote":
            raise UserError("--out speaks with a local engine", "leave out --engine remote, or use --wav")
        from ..audio.encode import format_of

        format_of(out)  # an unknown extension is said before anything loads
        return speak_to_file(args, start, out)
    try:
        player = Player(args.device)
    except DeviceError:
        if args.wav and args.device is None and args.engine != "remote" and feed_from is None:
            return speak_to_file(args, start, args.wav)
        raise
    source = _source(args)
    player.start()  # the stream runs (silence) before any request: no request waits for a device to open
    session = Session(player, {source.name: source})
    listening: Any = None
    current: list[Any] = []
    feeding: list[BaseException] = []
    try:
        if getattr(args, "barge_in", None) == "voice":
            from ..bargein.listener import BargeInConfig, VoiceBargeIn

            listening = VoiceBargeIn(player, lambda: current[0] if current else None, session.cancel,
                                     args.input_device, BargeInConfig(min_speech_ms=args.min_speech_ms,
                                                                      headphones=args.headphones,
                                                                      canceller=args.echo_canceller))
        if not args.cold:
            source.wait_ready()
            if args.voice:
                source.check_voice(args.voice)
        if args.wav:
            player.start_capture(seconds=min(WAV_MAX_S, 30.0 + max(text_chars, 2000) * 0.12 / args.speed))
        req = start(session, source.name)
        current.append(req)
        if feed_from is not None:
            threading.Thread(target=_feed, args=(req, feed_from, feeding, on_cancel), name="text-in",
                             daemon=True).start()
        try:
            if args.cancel_after is not None:
                remaining = req.t_submit_ns / 1e9 + args.cancel_after - time.perf_counter()
                if not req.finished.wait(max(0.0, remaining)):
                    req.cancel()
                    if on_cancel is not None:
                        on_cancel()
            while not req.finished.wait(0.1):
                pass
        except KeyboardInterrupt:
            req.cancel()
            if on_cancel is not None:
                on_cancel()
            req.finished.wait(5)
        req.wait_settled(5)
        if listening is not None:
            listening.close()  # the listener writes what it ignored into the trace as it stops
            listening = None
        m = session.record(req)
        if args.wav:
            from ..audio.encode import AudioWriter

            with AudioWriter(args.wav, player.rate, "wav") as w:  # whatever its name: --wav is a WAV
                w.write(player.stop_capture())
    finally:
        if listening is not None:
            listening.close()
        session.close()
        player.close()
        source.stop()
    record = m.to_dict()
    if feeding:
        record["text_error"] = str(feeding[0])
    return m, record


def _feed(req: Request, pieces: Iterable[str], errors: list[BaseException],
          on_cancel: Callable[[], None] | None) -> None:
    """Feed a streamed request from `pieces`, then end it; a source that fails is noted, what came is spoken.
    A cancel (a barge-in by voice too) stops the source with `on_cancel`."""
    try:
        for piece in pieces:
            if req.stop.is_set():
                if on_cancel is not None:
                    on_cancel()
                return
            req.feed(piece)
    except UserError as exc:
        if req.stop.is_set():
            return
        errors.append(exc)
        print(f"voicetrace: {exc}", file=sys.stderr)
    if not req.stop.is_set() and not req.finished.is_set():
        with contextlib.suppress(UserError):  # cancelled meanwhile
            req.end()


def speak_to_file(args: argparse.Namespace, start: Callable[[Session, str], Request], path: str
                  ) -> tuple[RequestMetrics, dict[str, Any]]:
    """Synthesise into a file (`--out`, or `--wav` with no output device): the same pipeline into a sink that
    plays nothing, each chunk encoded as it comes (WAV, FLAC, OGG, Opus or MP3 by the extension); no playback
    metrics. A request that does not finish leaves no file behind."""
    from ..core.save import SpeechFile

    source = LocalSource.load(args.engine, stream_phrase=getattr(args, "kokoro_mode", "stream") == "stream")
    try:
        source.wait_ready()
        saving = SpeechFile(source, path, lambda s: start(s, source.name)).start()
        m = saving.wait(timeout=3600)
    finally:
        source.stop()
    record = m.to_dict()
    record.update(wav=path, out=path, seconds=round(saving.seconds, 3),
                  note="written to a file, not played: there are no playback metrics")
    if not args.json and m.outcome == "done":
        print(f"wrote {path} ({saving.seconds:.1f} s of {saving.writer.format}); not played, so no playback metrics")
    return m, record


def report(args: argparse.Namespace, m: RequestMetrics, record: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(record))
    elif "wav" not in record or m.outcome != "done":
        print_summary(m)
    if m.outcome == "failed":
        print(f"voicetrace: error: {m.error}", file=sys.stderr)
        return 1
    return 0


def print_summary(m: RequestMetrics) -> None:
    def f(x: Any, unit: str = " ms") -> str:
        return "—" if x is None else f"{x:.1f}{unit}" if isinstance(x, float) else f"{x}{unit}"

    print(f"{m.engine} / {m.voice} on {m.device}: {m.outcome}")
    est = "≈" if m.dac_time_estimated else ""
    print(f"  TTFA  callback {f(m.ttfa_callback_ms)}  audible {est}{f(m.ttfa_audible_ms)}  voiced "
          f"{est}{f(m.ttfa_voiced_ms)}")
    if m.dac_time_estimated:
        print(f"  ≈ {m.dac_time_estimated}")
    rtf = "—" if m.rtf is None else f"{m.rtf:.3f}"
    print(f"  RTF {rtf}  audio {f(m.audio_ms)}  chunks {len(m.chunks)}  underruns {m.underruns} ({f(m.underrun_ms)})")
    if m.stream_input:
        print(f"  streamed text: first text at {f(m.t_first_text_ms)}, first text → audible "
              f"{f(m.ttfa_from_first_text_ms)}, starved {m.text_starvations} ({f(m.text_starvation_ms)})")
    if m.cancelled:
        print(f"  heard{' (estimated)' if m.heard_exact is False else ''}: {m.heard_text!r} ({f(m.heard_ms)})")
        print(f"  cancel → silence {est}{f(m.cancel_to_silence_ms)}  → engine idle {f(m.cancel_to_idle_ms)}  "
              f"stale samples {m.stale_samples_after_cancel}")
    b = m.barge_in
    if b:
        if b.triggered:
            print(f"  barge-in: you spoke at {f(b.true_onset_ms)} (VAD {f(b.speech_onset_ms)}), trigger "
                  f"{f(b.trigger_ms)}, your onset → silence {f(b.onset_to_silence_ms)}")
        erle = "" if b.erle_db is None else f", echo reduced by {b.erle_db} dB"
        print(f"  barge-in ({b.canceller}{erle}): ignored {b.ignored.too_short} short burst(s) and "
              f"{b.ignored.own_voice} stretch(es) of its own voice")
        if b.route is not None:
            armed = "never armed" if b.armed_ms is None else f"armed {f(b.armed_ms)} after the app spoke"
            print(f"  barge-in listened to: {b.route} ({b.route_reason}); {armed}")
    if m.events_lost or m.callback_errors:
        print(f"  WARNING: the player lost {m.events_lost} playback records and {m.callback_errors} callbacks "
              "failed: the figures above are incomplete")
    print(f"  engine load {f(m.engine_load_ms)}  warm-up {f(m.warmup_ms)}  peak RSS {m.peak_rss_mb} MB")
