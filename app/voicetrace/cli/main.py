"""`voicetrace` command line: speak, devices, models, serve, app. Bad input exits 2 with one line on stderr."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import wave
from pathlib import Path
from typing import Any

from .. import __version__
from ..core.report import peak_rss_mb, request_record
from ..errors import DeviceError, UserError
from ..text.normalize import MAX_TEXT_CHARS

SAMPLE_TEXT = ("Hello! This is VoiceTrace, speaking with the embedded default voice, "
               "and measuring how fast the first sound came.")


WAV_MAX_S = 1800.0  # the capture buffer is preallocated (the callback cannot grow it): 30 min, 173 MB


def _read_text(args: argparse.Namespace) -> str:
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


def _write_wav(path: str, audio: Any, rate: int) -> None:
    import numpy as np

    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def cmd_speak(args: argparse.Namespace) -> int:
    from ..core.session import check_speed
    from ..engines.catalog import find_model
    from ..text.normalize import clean_input

    text = clean_input(_read_text(args))
    check_speed(args.speed)
    remote = args.engine == "remote"
    if remote and not args.url:
        raise UserError("--engine remote needs --url", "e.g. --url ws://gpu-box:8880 (a `voicetrace serve`) or "
                        "--url http://host:port for an OpenAI-compatible server")
    entry = None if remote else find_model(args.engine)
    if args.cancel_after is not None and not (0 <= args.cancel_after < 3600):
        raise UserError(f"--cancel-after {args.cancel_after} is out of range", "give seconds from 0 to 3600")

    from ..audio.player import Player
    from ..core.session import Session
    from ..core.worker import EngineWorker
    from ..engines import create_engine

    if args.barge_in == "voice":
        from ..audio.devices import resolve_input_device

        resolve_input_device(args.input_device)  # a missing microphone is said before anything loads
    try:
        player = Player(args.device)
    except DeviceError:
        if args.wav and args.device is None and entry is not None:
            return _speak_offline(args, text, entry)
        raise
    if entry is None:
        from ..remote.client import RemoteEngine, RemoteWorker

        engine: Any = RemoteEngine(args.url, args.token or os.environ.get("VOICETRACE_TOKEN"), args.model)
        worker: EngineWorker = RemoteWorker(engine).start()
    else:
        engine = create_engine(entry)
        worker = EngineWorker(engine).start()
    engine_id = engine.name
    player.start()  # the stream runs (silence) before any request: no request waits for a device to open
    session = Session(player, {engine_id: worker})
    listening: Any = None
    current: list[Any] = []
    try:
        if args.barge_in == "voice":
            from ..bargein.listener import BargeInConfig, VoiceBargeIn

            listening = VoiceBargeIn(player, lambda: current[0] if current else None, session.cancel,
                                     args.input_device, BargeInConfig(min_speech_ms=args.min_speech_ms,
                                                                      headphones=args.headphones))
        if not args.cold:
            worker.wait_ready()
            if args.voice:
                engine.check_voice(args.voice)
        if args.wav:
            player.start_capture(seconds=min(WAV_MAX_S, 30.0 + len(text) * 0.12 / args.speed))
        req = session.submit(text, engine_id, args.voice, args.speed)
        current.append(req)
        t0 = req.trace.events[0].t_ns
        try:
            if args.cancel_after is not None:
                remaining = t0 / 1e9 + args.cancel_after - time.perf_counter()
                if not req.finished.wait(max(0.0, remaining)):
                    session.cancel(req.id)
            while not req.finished.wait(0.1):
                pass
        except KeyboardInterrupt:
            session.cancel(req.id)
            req.finished.wait(5)
        # Keep listening a little after the end: a stale sample after the cancel ack would show up here.
        time.sleep(0.15)
        if listening is not None:
            listening.close()  # the listener writes what it ignored into the trace as it stops
            listening = None
        m = session.metrics(req.id)
        latency_ms = round(player.output_latency_s * 1000, 3)
        if args.wav:
            _write_wav(args.wav, player.stop_capture(), player.rate)
    finally:
        if listening is not None:
            listening.close()
        session.close()
        player.close()
        worker.stop()
    record = request_record(m, engine_load_ms=engine.load_ms, warmup_ms=engine.warmup_ms,
                            device=player.device.name, device_rate=player.rate, output_latency_ms=latency_ms,
                            skipped_phrases=req.skipped, cold=bool(args.cold))
    if args.json:
        print(json.dumps(record))
    else:
        _print_summary(record)
    if m.outcome == "failed":
        print(f"voicetrace: error: {m.error}", file=sys.stderr)
        return 1
    return 0


def _speak_offline(args: argparse.Namespace, text: str, entry: Any) -> int:
    """No output device, but --wav: synthesise the whole text into the file (no playback metrics)."""
    import numpy as np

    from ..audio.shaping import PAUSE_S, shape_chunk
    from ..engines import create_engine
    from ..text.planner import Planner

    engine = create_engine(entry)
    engine.load()
    voice = args.voice or engine.default_voice
    engine.check_voice(voice)
    planner = Planner(text)
    parts, compute_ns, audio_s = [], 0, 0.0
    while (ph := planner.next_phrase(10.0, 0.5, 0.07)) is not None:
        res = engine.synthesize(ph.text, voice, args.speed)
        compute_ns += res.compute_ns
        audio_s += len(res.audio) / res.rate
        parts.append(shape_chunk(res.audio, res.rate, 0.0 if planner.done else PAUSE_S.get(ph.brk, 0.0)))
    audio = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    _write_wav(args.wav, audio, engine.rate)
    record = {"engine": entry.id, "voice": voice, "text_chars": len(text), "device": None,
              "rtf": round(compute_ns / 1e9 / audio_s, 4) if audio_s else None, "audio_ms": round(audio_s * 1000, 1),
              "wav": args.wav, "peak_rss_mb": peak_rss_mb(),
              "note": "no audio output device: wrote the WAV only, so there are no playback metrics"}
    print(json.dumps(record) if args.json else f"wrote {args.wav} ({audio_s:.1f} s); no output device, so no playback")
    return 0


def _print_summary(m: dict[str, Any]) -> None:
    def f(x: Any, unit: str = " ms") -> str:
        return "—" if x is None else f"{x:.1f}{unit}" if isinstance(x, float) else f"{x}{unit}"

    print(f"{m['engine']} / {m['voice']} on {m['device']}: {m['outcome']}")
    print(f"  TTFA  callback {f(m['ttfa_callback_ms'])}  audible {f(m['ttfa_audible_ms'])}  "
          f"voiced {f(m['ttfa_voiced_ms'])}")
    rtf = "—" if m["rtf"] is None else f"{m['rtf']:.3f}"
    print(f"  RTF {rtf}  audio {f(m['audio_ms'])}  chunks {len(m['chunks'])}  "
          f"underruns {m['underruns']} ({f(m['underrun_ms'])})")
    if m["cancelled"]:
        print(f"  cancel → silence {f(m['cancel_to_silence_ms'])}  → engine idle {f(m['cancel_to_idle_ms'])}  "
              f"stale samples {m['stale_samples_after_cancel']}")
    b = m.get("barge_in")
    if b:
        if b["trigger_ms"] is not None:
            print(f"  barge-in: you spoke at {f(b['true_onset_ms'])} (VAD {f(b['speech_onset_ms'])}), trigger "
                  f"{f(b['trigger_ms'])}, your onset → silence {f(b['onset_to_silence_ms'])}")
        print(f"  barge-in: ignored {b['ignored']['too_short']} short burst(s) and {b['ignored']['own_voice']} "
              "stretch(es) of its own voice")
    print(f"  engine load {f(m['engine_load_ms'])}  warm-up {f(m['warmup_ms'])}  peak RSS {m['peak_rss_mb']} MB")


def cmd_devices(args: argparse.Namespace) -> int:
    from ..audio.devices import list_input_devices, list_output_devices

    devices = list_output_devices()
    if not devices:
        print("no audio output devices", file=sys.stderr)
        return 1
    inputs = list_input_devices()
    for k, d in enumerate(devices + inputs):
        if k == len(devices):
            print("inputs (--input-device, for barge-in by voice):")
        mark = "*" if d.is_default else " "
        print(f"{mark} {d.index:3d}  {d.name}  ({d.hostapi}, {d.channels} ch, {d.default_samplerate:.0f} Hz)")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from ..engines.catalog import catalog, ensure_files, models_dirs
    from ..errors import ModelError

    bad = 0
    for e in catalog():
        status = ""
        if args.verify:
            try:
                ensure_files(e, verify=True)
                if not e.packaged:  # no checksum to compare with: loading it is the check
                    from ..engines import create_engine

                    create_engine(e).load()
                status = "  [ok]"
            except ModelError as exc:
                status = f"  [ERROR: {exc}]"
                bad += 1
        print(f"{e.id:24s} {e.engine:7s} {e.sample_rate} Hz  default voice {e.default_voice}  — {e.title}{status}")
        for f in e.files.values():
            print(f"    {f.role:7s} {f.path}")
    print("user models are looked for in: " + ", ".join(str(d) for d in models_dirs()))
    return 1 if bad else 0


def cmd_app(args: argparse.Namespace) -> int:
    try:
        from ..ui.app import main as app_main
    except ImportError as exc:  # Qt's libraries missing on this machine
        raise UserError(f"the desktop window cannot start ({exc})",
                        "run `make setup` (it installs the Qt libraries), or use `voicetrace speak`") from exc
    return app_main(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from ..server.run import serve
    from ..server.service import Limits

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    limits = Limits(max_streams=args.max_streams, max_chars=args.max_chars, per_minute=args.rate)
    return serve(args.host, args.port, args.token, engines, args.device, limits, args.schedule)


def cmd_self_test(args: argparse.Namespace) -> int:
    from .selftest import run_self_test

    return run_self_test(args.device, args.wav_dir)


def cmd_bench(args: argparse.Namespace) -> int:
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if args.suite == "remote":
        from ..bench.remote import run_remote_suite

        levels = [int(x) for x in args.streams.split(",")]
        run_remote_suite(engines, args.repeat, Path(args.out), args.device, levels)
        return 0
    if args.suite == "first-chunk":
        from ..bench.compare import run_first_chunk

        run_first_chunk(engines, args.max_words, args.repeat, Path(args.out), args.device)
        return 0
    if args.suite == "levers":
        from ..bench.levers import run_levers

        run_levers(engines, args.repeat, Path(args.out), args.device)
        return 0
    if args.suite == "barge-in":
        from ..bench.barge_in import run_barge_in_suite

        run_barge_in_suite(args.trials, Path(args.out), args.device)
        return 0
    if args.suite != "compare":
        raise UserError(f"unknown bench suite {args.suite!r}",
                        "use --compare (the default), --suite first-chunk, levers, remote or barge-in")
    from ..bench.compare import load_texts, run_compare

    texts = load_texts([t.strip() for t in args.texts.split(",") if t.strip()])
    run_compare(engines, texts, args.repeat, Path(args.out), args.device, args.play_limit, observe=args.observe,
                wer=args.wer)
    return 0


def _add_app_args(a: argparse.ArgumentParser) -> None:
    a.add_argument("--engine", help="engine to select at start (default: the last one used, else kokoro)")
    a.add_argument("--metrics-log", metavar="PATH",
                   help="append one JSON object per finished request (env VOICETRACE_METRICS_LOG)")
    a.add_argument("--settings", metavar="FILE.ini", help="keep settings in this file instead of the user's")
    a.add_argument("--greet", action="store_true", help="say hello once the engine is warm")
    a.add_argument("--remote", metavar="URL", help="select the Remote engine on this server (ws://… or http://…)")
    a.add_argument("--token", help="the remote server's bearer token (env VOICETRACE_TOKEN)")
    a.add_argument("--screenshot", metavar="OUT.png", help=argparse.SUPPRESS)  # scripted tour, then exit
    a.add_argument("--tour-rounds", type=int, default=3, help=argparse.SUPPRESS)
    a.add_argument("--timeout", type=float, default=300.0, help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="voicetrace", description="Streaming local TTS that measures its own latency. "
                                "With no command it opens the desktop window.")
    p.add_argument("--version", action="version", version=f"voicetrace {__version__}")
    sub = p.add_subparsers(dest="command")
    a = sub.add_parser("app", help="open the desktop window (the default)")
    _add_app_args(a)
    a.set_defaults(func=cmd_app)
    s = sub.add_parser("speak", help="speak text through the output device and report its metrics")
    s.add_argument("text", nargs="?", help="the text; '-' reads standard input")
    s.add_argument("-f", "--file", help="read the text from a UTF-8 file")
    s.add_argument("--sample", action="store_true", help="speak the built-in sample sentence")
    s.add_argument("--engine", default="kokoro",
                   help="kokoro, piper, a model id from `voicetrace models`, or remote (with --url)")
    s.add_argument("--url", help="remote engine: ws://HOST:PORT (voicetrace serve) or http(s)://… (OpenAI-compatible)")
    s.add_argument("--token", help="remote engine: the server's bearer token (env VOICETRACE_TOKEN)")
    s.add_argument("--model", help="remote engine: the server's model/engine name (default: the server's default)")
    s.add_argument("--voice", help="voice id; Kokoro blends like jm_kumo(2)+jf_alpha(1)")
    s.add_argument("--speed", type=float, default=1.0, help="0.5 to 2.0")
    s.add_argument("--device", help="output device index or name substring (see `voicetrace devices`)")
    s.add_argument("--cancel-after", type=float, metavar="SECONDS", help="interrupt this long after submit")
    s.add_argument("--wav", metavar="OUT.wav", help="also write exactly what was sent to the device (up to 30 min)")
    s.add_argument("--json", action="store_true", help="print one JSON object with every metric")
    s.add_argument("--cold", action="store_true", help="submit before the engine is warm (TTFA includes loading)")
    s.add_argument("--barge-in", choices=["voice"],
                   help="voice: listen to the microphone while speaking and stop when the user talks")
    s.add_argument("--input-device", help="barge-in microphone: index or name substring (see `voicetrace devices`)")
    s.add_argument("--headphones", action="store_true",
                   help="barge-in: the microphone cannot hear the speakers (no self-interruption gate)")
    s.add_argument("--min-speech-ms", type=float, default=200.0, metavar="MS",
                   help="barge-in: speech must last this long to interrupt (coughs and clicks are shorter)")
    s.set_defaults(func=cmd_speak)
    d = sub.add_parser("devices", help="list audio output and input devices")
    d.set_defaults(func=cmd_devices)
    m = sub.add_parser("models", help="list models (packaged and user-supplied)")
    m.add_argument("--verify", action="store_true", help="re-check every file's checksum")
    m.set_defaults(func=cmd_models)
    v = sub.add_parser("serve", help="serve the engines over HTTP (OpenAI-compatible) and a WebSocket")
    v.add_argument("--host", default="127.0.0.1", help="address to bind (anything but loopback needs --token)")
    v.add_argument("--port", type=int, default=8880)
    v.add_argument("--token", help="bearer token every request must carry (env VOICETRACE_TOKEN)")
    v.add_argument("--engines", default="kokoro,piper", help="engines to load; the first is the default")
    v.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="onnxruntime execution provider")
    v.add_argument("--max-streams", type=int, default=8, help="concurrent streams; more get 429 busy")
    v.add_argument("--max-chars", type=int, default=10_000, help="longest input text accepted")
    v.add_argument("--rate", type=int, default=120, help="requests per minute per client address")
    v.add_argument("--schedule", choices=["deadline", "fifo"], default="deadline",
                   help="how concurrent streams share an engine (fifo: the baseline `bench` compares against)")
    v.set_defaults(func=cmd_serve)
    t = sub.add_parser("self-test", help="check this installation: load both engines, speak, print JSON "
                       "(also `voicetrace --self-test`)")
    t.add_argument("--device", help="output device (default: the system's; none → WAV files)")
    t.add_argument("--wav-dir", help="where the WAV files go when there is no output device")
    t.set_defaults(func=cmd_self_test)
    b = sub.add_parser("bench", help="measure and print figures: --compare (strategies side by side, the "
                       "default) or --suite remote (the server vs in-process)")
    b.add_argument("--compare", dest="suite", action="store_const", const="compare",
                   help="whole utterance vs kokoro-onnx create_stream vs per-sentence vs VoiceTrace")
    b.add_argument("--suite", default="compare",
                   help="compare (default), first-chunk (TTFA vs first phrase of 1–12 words), levers (onnxruntime "
                   "options, chunking, phrase cache, memory), remote, or barge-in (voice barge-in with speech "
                   "injected into the JACK microphone)")
    b.add_argument("--trials", type=int, default=20, help="barge-in: user-speech trials (plus echo/noise trials)")
    b.add_argument("--engines", default="piper,kokoro")
    b.add_argument("--texts", default="short,sentence,paragraph",
                   help="names in bench/texts (short, sentence, paragraph, article) or files, comma-separated")
    b.add_argument("--play-limit", type=float, default=15.0, metavar="S",
                   help="compare: play each full run at most this long, then cancel it")
    b.add_argument("--observe", action="store_true",
                   help="compare: check TTFA and cancel→silence with an independent JACK recorder process")
    b.add_argument("--wer", nargs="?", type=int, const=15, default=0, metavar="N",
                   help="compare: word error rate of each strategy's played audio over the first N (default all "
                   "15) sentences of bench/texts/wer.txt, transcribed offline by Whisper tiny.en")
    b.add_argument("--max-words", type=int, default=12, help="first-chunk: the longest first phrase to try")
    b.add_argument("--repeat", type=int, default=3, help="runs per engine, strategy and text (remote: pairs)")
    b.add_argument("--streams", default="1,2,4,8,12,16,24,32", help="concurrent Piper stream counts to try")
    b.add_argument("--device", help="output device (default: the system's)")
    b.add_argument("--out", default="build/bench", help="folder for the JSON results")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--self-test"]:
        argv = ["self-test", *argv[1:]]
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["app", *argv]  # no command: the desktop window
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"voicetrace: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("VOICETRACE_DEBUG"):
            raise
        print(f"voicetrace: internal error: {type(exc).__name__}: {exc} (set VOICETRACE_DEBUG=1 for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
