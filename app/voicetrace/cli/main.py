"""`voicetrace` command line: the parser and the dispatch to one module per command. Bad input exits 2 with one
line on stderr."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable

from .. import __version__
from ..errors import UserError

# Each command lives in its own module, imported only when it runs (`voicetrace --version` loads no engine).
# The benchmark is an optional part (the `bench` extra; the bundle leaves it out): looked up, not imported.
COMMANDS = {
    "app": "voicetrace.cli.app:cmd_app",
    "speak": "voicetrace.cli.speak:cmd_speak",
    "chat": "voicetrace.cli.chat:cmd_chat",
    "devices": "voicetrace.cli.devices:cmd_devices",
    "models": "voicetrace.cli.models:cmd_models",
    "serve": "voicetrace.cli.serve:cmd_serve",
    "self-test": "voicetrace.cli.selftest:cmd_self_test",
    "bench": "voicetrace.bench.cli:cmd_bench",
}


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    module, _, func = COMMANDS[name].partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if name == "bench" and exc.name is not None and exc.name.startswith("voicetrace.bench"):
            raise UserError("this installation has no benchmark",
                            "run it from the sources: make bench-setup, then .venv/bin/voicetrace bench") from exc
        raise
    command: Callable[[argparse.Namespace], int] = getattr(mod, func)
    return command


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
    a.set_defaults(command="app")
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
    s.add_argument("--out", metavar="FILE",
                   help="synthesise into FILE instead of playing: .wav, .flac, .ogg, .opus or .mp3 (by extension)")
    s.add_argument("--json", action="store_true", help="print one JSON object with every metric")
    s.add_argument("--cold", action="store_true", help="submit before the engine is warm (TTFA includes loading)")
    s.add_argument("--kokoro-mode", choices=("stream", "whole"), default="stream",
                   help="Kokoro: decode each phrase in pieces as it is made (stream, default) or whole, phrase at "
                        "a time (to compare by ear)")
    s.add_argument("--stream", action="store_true",
                   help="speak standard input as it arrives (pipe a program's output in: … | voicetrace speak "
                   "--stream -)")
    s.add_argument("--barge-in", choices=["voice"],
                   help="voice: listen to the microphone while speaking and stop when the user talks")
    s.add_argument("--input-device", help="barge-in microphone: index or name substring (see `voicetrace devices`)")
    s.add_argument("--headphones", action="store_true",
                   help="barge-in: the microphone cannot hear the speakers (no echo canceller)")
    s.add_argument("--echo-canceller", choices=["auto", "aec3", "gate"], default="auto",
                   help="barge-in through speakers: WebRTC AEC3 (auto: where it loads) or the single-tap echo gate")
    s.add_argument("--min-speech-ms", type=float, default=200.0, metavar="MS",
                   help="barge-in: speech must last this long to interrupt (coughs and clicks are shorter)")
    s.set_defaults(command="speak")
    c = sub.add_parser("chat", help="ask an OpenAI-compatible chat server and speak its reply as it is written")
    c.add_argument("prompt", help="what to ask the model")
    c.add_argument("--llm", required=True, metavar="URL",
                   help="the chat server's OpenAI-compatible base URL, e.g. http://localhost:11434/v1 (Ollama)")
    c.add_argument("--model", required=True, help="the model name on that server")
    c.add_argument("--token", help="the chat server's API key (env VOICETRACE_LLM_TOKEN)")
    c.add_argument("--stall", type=float, default=15.0, metavar="S",
                   help="the model sending nothing this long ends the reply (what came is spoken)")
    c.add_argument("--engine", default="kokoro", help="the voice engine (as for speak)")
    c.add_argument("--url", help="remote voice engine: its URL (as for speak)")
    c.add_argument("--engine-token", help="remote voice engine: its token (env VOICETRACE_TOKEN)")
    c.add_argument("--voice", help="voice id")
    c.add_argument("--speed", type=float, default=1.0, help="0.5 to 2.0")
    c.add_argument("--device", help="output device index or name substring")
    c.add_argument("--cancel-after", type=float, metavar="SECONDS", help="interrupt this long after the start")
    c.add_argument("--json", action="store_true",
                   help="print the reply on standard error and one JSON object (the record) on standard output")
    c.add_argument("--cold", action="store_true", help=argparse.SUPPRESS)
    c.set_defaults(command="chat")
    d = sub.add_parser("devices", help="list audio output and input devices")
    d.set_defaults(command="devices")
    m = sub.add_parser("models", help="list models (packaged and user-supplied)")
    m.add_argument("--verify", action="store_true", help="re-check every file's checksum")
    m.set_defaults(command="models")
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
    v.set_defaults(command="serve")
    t = sub.add_parser("self-test", help="check this installation: load both engines, speak, print JSON "
                       "(also `voicetrace --self-test`)")
    t.add_argument("--device", help="output device (default: the system's; none → WAV files)")
    t.add_argument("--wav-dir", help="where the WAV files go when there is no output device")
    t.set_defaults(command="self-test")
    b = sub.add_parser("bench", help="measure and print figures: --compare (strategies side by side, the "
                       "default) or --suite remote (the server vs in-process)")
    b.add_argument("--compare", dest="suite", action="store_const", const="compare",
                   help="whole utterance vs kokoro-onnx create_stream vs per-sentence vs VoiceTrace")
    b.add_argument("--suite", default="compare",
                   help="compare (default), first-chunk (TTFA vs first phrase of 1–12 words), levers (onnxruntime "
                   "options, chunking, phrase cache, memory), remote, barge-in (voice barge-in with speech "
                   "injected into the JACK microphone), stream-input (a chat model's reply spoken as it is "
                   "written, four strategies), window (the window under Xvfb + openbox against `speak`) or frameworks "
                   "(VoiceTrace in Pipecat and LiveKit Agents against Pipecat's stock Kokoro and Piper services)")
    b.add_argument("--trials", type=int, default=20, help="barge-in: user-speech trials (plus echo/noise trials)")
    b.add_argument("--mic", metavar="clean|room[,RT60…]",
                   help="barge-in: clean (a headset's microphone, the defaults against headphones mode, a fresh "
                        "listener per trial) or room (the speakers heard through simulated rooms of these "
                        "reverberation times, s; 0.5 if none), the gate against the defaults; without --mic: the "
                        "microphone hears the app on a clean echo path")
    b.add_argument("--room", metavar="RT60[,RT60…]", help="barge-in: the same as --mic room,RT60[,RT60…]")
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
    b.add_argument("--kokoro-mode", choices=("both", "stream", "whole"), default="both",
                   help="first-chunk: Kokoro decoding phrases in pieces, whole, or both in the same run "
                        "(compare always runs both: voicetrace and voicetrace_whole)")
    b.add_argument("--paragraphs", type=int, default=10, help="window: how many of the bench's ten paragraphs")
    b.add_argument("--rates", default="10,30,100", help="stream-input: the chat model's tokens per second")
    b.add_argument("--replies", type=int, default=2, help="stream-input: how many of its replies to use")
    b.add_argument("--repeat", type=int, default=3, help="runs per engine, strategy and text (remote: pairs)")
    b.add_argument("--streams", default="1,2,4,8,12,16,24,32", help="concurrent Piper stream counts to try")
    b.add_argument("--device", help="output device (default: the system's)")
    b.add_argument("--out", default="build/bench", help="folder for the JSON results")
    b.set_defaults(command="bench")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    as_program = argv is None  # not called in-process (a test): it may leave without PortAudio's terminate
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--self-test"]:
        argv = ["self-test", *argv[1:]]
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["app", *argv]  # no command: the desktop window
    args = parser.parse_args(argv)
    code = _run(args)
    if as_program:
        from ..audio.devices import exit_now_if_portaudio_unsafe

        exit_now_if_portaudio_unsafe(code)  # after a JACK server stopped serving: its terminate would abort
    return code


def _run(args: argparse.Namespace) -> int:
    try:
        return int(_command(args.command)(args))
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
