"""`voicetrace bench --suite frameworks`: VoiceTrace inside the agent frameworks, measured in their own pipelines.

**Pipecat** (pipecat-ai, its own Pipeline, PipelineWorker and WorkerRunner): a stand-in LLM streams a reply at 10
or 30 tokens/s into the TTS service under test, a sink after it notes each frame as it arrives. The same replies
go through VoiceTrace's `VoiceTraceTTSService` and Pipecat's stock local services, each warm: `KokoroTTSService`
(kokoro-onnx) pointed at VoiceTrace's Kokoro model and voice file, and `PiperTTSService` (piper-tts) pointed at
the joe voice's wheel, so nothing is downloaded. Per run:

- first text → first audio: the stand-in pushed its first `LLMTextFrame` → the first `TTSAudioRawFrame` at the sink;
- word timestamps: the `TTSTextFrame`s with presentation times that came out, against the reply's words;
- an interruption (an `InterruptionFrame` queued as a user's barge-in is) while the engine works: at the first
  moment, one second or more after the first audio, that the process is busy (over `BUSY_SHARE` of a core):
  → the last audio frame at the sink, and → engine idle, when the process's CPU time (the OS's clock, all
  threads) falls to rest: the first moment after which it grows by under `REST_SHARE` of a core over `REST_S`.
  Each service is measured by that same rule; VoiceTrace's own acknowledgement (cancel → engine idle) is shown
  beside it.

**LiveKit Agents** (no local TTS of its own): VoiceTrace's `TTS` in an `AgentSession` (a scripted chat model, an
audio output on the event loop's clock: `testing/livekit_session.py`): the model's first token → the first audio
frame the session's output captures.

Nothing plays to a device: the frameworks' transports are where the audio would go. Needs the `bench` extra
(pipecat-ai[kokoro,piper], livekit-agents)."""

from __future__ import annotations

import asyncio
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.pipeline import LocalSource
from ..core.report import distribution
from .baselines import uncached
from .files import save_results

RATES = (10.0, 30.0)
REPLIES = (
    "The train to the airport leaves every fifteen minutes from platform two, and the ride takes about half an "
    "hour. Buy the ticket before you board, because the machines on the train take cards only.",
    "Streaming speech starts while the reply is still being written, so the first words come after a fraction "
    "of a second. Later phrases are sized to the audio already queued, which keeps the voice smooth.",
    "Your meeting with the design team moved to Thursday at three in the afternoon, in the small room on the "
    "fourth floor. I added the new slides to the invitation and told everyone about the change.",
)
LONG = ("This answer goes on for a while, so that the user has time to interrupt it. The engine is still busy "
        "making the next sentence when the interruption arrives. That is the moment a voice agent has to stop "
        "talking at once, because every second it goes on is a second the user waits. A stock service finishes "
        "the sentence it started, and only then does it notice that nobody is listening any more.")
PIPELINE_RATE = 24_000
INTERRUPT_AFTER_S = 1.0  # after the first audio frame, at the first moment the engine is busy ...
BUSY_SHARE = 0.5  # ... (the process used over half a core in the last BUSY_S) ...
BUSY_S = 0.05
INTERRUPT_BY_S = 4.0  # ... or this long after the first audio if it never is again
REST_S = 0.1
REST_SHARE = 0.15  # of one core: the pipeline at rest uses a few %, an engine synthesizing one core or more
TURN_TIMEOUT_S = 60.0
QUIET_S = 0.8


# ---- the process's CPU, as the OS counts it -----------------------------------------------------------------

class CpuClock:
    """Samples the process's CPU time (all threads: `time.process_time_ns`) every few ms on its own thread."""

    def __init__(self, every_s: float = 0.005) -> None:
        self.every_s = every_s
        self.samples: list[tuple[float, int]] = []  # (time.monotonic(), process CPU ns)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-cpu-clock", daemon=True)

    def __enter__(self) -> CpuClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), time.process_time_ns()))
            time.sleep(self.every_s)

    def busy(self) -> bool:
        """Whether the process used over BUSY_SHARE of a core in the last BUSY_S."""
        if len(self.samples) < 2:
            return False
        t1, c1 = self.samples[-1]
        t0, c0 = next((x for x in reversed(self.samples) if x[0] <= t1 - BUSY_S), self.samples[0])
        return t1 > t0 and (c1 - c0) / 1e9 > BUSY_SHARE * (t1 - t0)

    def rested(self, span_s: float) -> bool:
        """Whether the process used under REST_SHARE of a core over the last `span_s`."""
        if not self.samples or self.samples[-1][0] - self.samples[0][0] < span_s:
            return False
        t1, c1 = self.samples[-1]
        t0, c0 = next(x for x in reversed(self.samples) if x[0] <= t1 - span_s)
        return (c1 - c0) / 1e9 < REST_SHARE * (t1 - t0)

    def rest_after(self, t: float) -> float | None:
        """Seconds from `t` to the first sample after which the process's CPU grows by under REST_SHARE of a
        core over the next REST_S (None: never at rest within what was sampled). Its grain: the last
        REST_SHARE · REST_S (15 ms) of work may fall inside the quiet window, so it can read that much early."""
        s = [x for x in self.samples if x[0] >= t]
        j = 0
        for i, (ti, ci) in enumerate(s):
            j = max(j, i)
            while j < len(s) and s[j][0] < ti + REST_S:
                j += 1
            if j == len(s):
                return None
            tj, cj = s[j]
            if (cj - ci) / 1e9 < REST_SHARE * (tj - ti):
                return ti - t
        return None


# ---- Pipecat ------------------------------------------------------------------------------------------------

@dataclass
class Turn:
    """What one reply through one service looked like at the sink (time.monotonic() throughout)."""

    first_text_at: float | None = None
    first_audio_at: float | None = None
    llm_done_at: float | None = None
    interrupted_at: float | None = None
    busy_at_interrupt: bool = False
    audio_at: list[float] = field(default_factory=list)
    audio_s: float = 0.0
    word_frames: int = 0  # TTSTextFrames with a presentation time
    text_frames: int = 0


def _pipecat_parts() -> Any:
    """Pipecat's classes, imported when the suite runs (the extra may be missing)."""
    from pipecat.frames import frames as f
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.frame_processor import FrameProcessor
    from pipecat.workers.runner import WorkerRunner

    return f, Pipeline, PipelineParams, PipelineWorker, FrameProcessor, WorkerRunner


def _build_pipeline(tts: Any) -> tuple[Any, Any]:
    """[stand-in LLM → tts → sink] in a worker; returns (worker, llm): the turn the llm speaks is what the sink
    fills in."""
    f, Pipeline, PipelineParams, PipelineWorker, FrameProcessor, _ = _pipecat_parts()
    from ..text.feed import token_pieces

    class StandInLLM(FrameProcessor):  # type: ignore[misc,valid-type]
        """Streams `reply` a token every 1/rate s when told to; stops writing at an interruption."""

        def __init__(self) -> None:
            super().__init__()
            self.turn = Turn()
            self.reply, self.rate = "", 30.0
            self._task: asyncio.Task[None] | None = None

        def speak(self, turn: Turn, reply: str, rate: float) -> None:
            self.turn, self.reply, self.rate = turn, reply, rate
            self._task = self.create_task(self._stream())

        async def process_frame(self, frame: Any, direction: Any) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, f.InterruptionFrame) and self._task is not None:
                await self.cancel_task(self._task)
                self._task = None
            await self.push_frame(frame, direction)

        async def _stream(self) -> None:
            await self.push_frame(f.LLMFullResponseStartFrame())
            for token in token_pieces(self.reply):
                await asyncio.sleep(1 / self.rate)
                if self.turn.first_text_at is None:
                    self.turn.first_text_at = time.monotonic()
                await self.push_frame(f.LLMTextFrame(token))
            await self.push_frame(f.LLMFullResponseEndFrame())
            self.turn.llm_done_at = time.monotonic()

    class Sink(FrameProcessor):  # type: ignore[misc,valid-type]
        def __init__(self, llm: StandInLLM) -> None:
            super().__init__()
            self.llm = llm

        async def process_frame(self, frame: Any, direction: Any) -> None:
            await super().process_frame(frame, direction)
            turn = self.llm.turn
            if isinstance(frame, f.TTSAudioRawFrame):
                now = time.monotonic()
                turn.first_audio_at = turn.first_audio_at or now
                turn.audio_at.append(now)
                turn.audio_s += frame.num_frames / frame.sample_rate
            elif isinstance(frame, f.TTSTextFrame):
                turn.text_frames += 1
                turn.word_frames += bool(frame.pts)
            await self.push_frame(frame, direction)

    llm = StandInLLM()
    worker = PipelineWorker(Pipeline([llm, tts, Sink(llm)]),
                            params=PipelineParams(audio_out_sample_rate=PIPELINE_RATE, enable_metrics=True))
    return worker, llm


def _services(engines: list[str]) -> dict[str, Any]:
    """name → a factory of the Pipecat service (built inside the event loop)."""
    from ..engines.catalog import ensure_files, find_model
    from ..integrations.pipecat import VoiceTraceTTSService

    out: dict[str, Any] = {}
    for engine in engines:
        entry = find_model(engine)
        ensure_files(entry)
        out[f"voicetrace-{engine}"] = lambda e=engine: VoiceTraceTTSService(engine=e)
        if entry.engine == "kokoro":
            from pipecat.services.kokoro.tts import KokoroTTSService

            out[f"stock-{engine}"] = lambda e=entry: KokoroTTSService(
                model_path=str(e.path("model")), voices_path=str(e.path("voices")),
                settings=KokoroTTSService.Settings(voice=e.default_voice))
        elif entry.engine == "piper":
            from pipecat.services.piper.tts import PiperTTSService

            model = entry.path("model")
            out[f"stock-{engine}"] = lambda m=model: PiperTTSService(
                settings=PiperTTSService.Settings(voice=m.name.removesuffix(".onnx")), download_dir=m.parent)
    return out


async def _one_turn(worker: Any, llm: Any, reply: str, rate: float, clock: CpuClock,
                    interrupt: bool) -> Turn:
    f = _pipecat_parts()[0]
    turn = Turn()
    llm.speak(turn, reply, rate)
    deadline = time.monotonic() + TURN_TIMEOUT_S
    if interrupt:  # as a user barges in while the engine works: stopping an idle engine would show nothing
        while turn.first_audio_at is None and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        first = turn.first_audio_at or time.monotonic()
        while time.monotonic() < first + INTERRUPT_BY_S and not (
                time.monotonic() >= first + INTERRUPT_AFTER_S and clock.busy()):
            await asyncio.sleep(0.005)
        turn.interrupted_at = time.monotonic()
        turn.busy_at_interrupt = clock.busy()
        await worker.queue_frame(f.InterruptionFrame())
        await asyncio.sleep(1.0)
    # The turn is over when nothing came for QUIET_S and the process is at rest as long: the same rule for every
    # service (a stock service's stop frame may come between its sentences)
    while time.monotonic() < deadline:
        end = turn.interrupted_at or turn.llm_done_at  # the quiet counts from the text's end: a stock service
        if end is not None and time.monotonic() - max([end, *turn.audio_at[-1:]]) > QUIET_S \
                and clock.rested(QUIET_S):  # speaks its last sentence only then
            break
        await asyncio.sleep(0.02)
    return turn


def _vt_record(tts: Any) -> dict[str, Any]:
    recs = list(getattr(tts, "request_metrics", {}).values())
    if not recs:
        return {}
    r = recs[-1]
    return {"outcome": r.outcome, "first_chunk_ms": r.first_chunk_ms, "cancel_to_idle_ms": r.cancel_to_idle_ms}


async def _pipecat_service(name: str, make: Any, rates: tuple[float, ...], repeat: int, clock: CpuClock,
                           replies: tuple[str, ...] = REPLIES) -> list[dict[str, Any]]:
    f, *_, WorkerRunner = _pipecat_parts()
    tts = make()
    if hasattr(tts, "engine"):  # VoiceTrace's: warm, and synthesis compared, not what a phrase cache remembered
        await asyncio.to_thread(_warm_uncached, tts.engine)
    worker, llm = _build_pipeline(tts)
    runner = WorkerRunner(handle_sigint=False)
    rows: list[dict[str, Any]] = []

    async def drive() -> None:
        await asyncio.sleep(0.5)  # the pipeline started
        await _one_turn(worker, llm, "Hello there, this warms the service up before it is measured.", 100.0,
                        clock, interrupt=False)
        for rep in range(repeat):
            for rate in rates:
                for i, reply in enumerate(replies):
                    turn = await _one_turn(worker, llm, reply, rate, clock, interrupt=False)
                    rows.append(_row(name, "reply", rate, i, rep, reply, turn, clock, tts))
                    print(f"  {name:18s} {rate:4.0f} tok/s reply {i}: first audio "
                          f"{rows[-1]['first_audio_ms']} ms, word frames {turn.word_frames}", file=sys.stderr)
            turn = await _one_turn(worker, llm, LONG, 30.0, clock, interrupt=True)
            rows.append(_row(name, "interrupt", 30.0, 0, rep, LONG, turn, clock, tts))
            print(f"  {name:18s} interruption (engine busy: {turn.busy_at_interrupt}): last audio "
                  f"+{rows[-1]['interrupt_to_last_audio_ms']} ms, idle +{rows[-1]['interrupt_to_idle_ms']} ms",
                  file=sys.stderr)
        await worker.queue_frame(f.EndFrame())

    await runner.add_workers(worker)
    await asyncio.gather(runner.run(), drive())
    return rows


def _warm_uncached(source: Any) -> None:
    source.wait_ready(300)
    if isinstance(source, LocalSource):
        uncached(source)


def _ms(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round((b - a) * 1000, 1)


def _row(name: str, kind: str, rate: float, i: int, rep: int, reply: str, turn: Turn, clock: CpuClock,
         tts: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "service": name, "kind": kind, "tokens_per_s": rate, "reply": i, "repeat": rep,
        "first_audio_ms": _ms(turn.first_text_at, turn.first_audio_at), "audio_s": round(turn.audio_s, 2),
        "words": len(re.findall(r"\S+", reply)), "word_frames": turn.word_frames, "text_frames": turn.text_frames,
        "voicetrace": _vt_record(tts)}
    if turn.interrupted_at is not None:
        after = [t for t in turn.audio_at if t > turn.interrupted_at]
        row["audio_frames_after_interrupt"] = len(after)
        row["busy_at_interrupt"] = turn.busy_at_interrupt
        row["interrupt_to_last_audio_ms"] = _ms(turn.interrupted_at, after[-1]) if after else 0.0
        rest = clock.rest_after(turn.interrupted_at)
        row["interrupt_to_idle_ms"] = None if rest is None else round(rest * 1000, 1)
    return row


# ---- LiveKit ------------------------------------------------------------------------------------------------

async def _livekit_runs(engine: str, rates: tuple[float, ...], repeat: int) -> list[dict[str, Any]]:
    from livekit.agents import Agent, AgentSession

    from ..integrations.livekit import TTS
    from ..testing.livekit_session import ClockOutput, ScriptedLLM

    tts = TTS(engine=engine)
    await asyncio.to_thread(_warm_uncached, tts.engine)
    rows: list[dict[str, Any]] = []
    model = ScriptedLLM("Hello there, this warms the session up.", 0.01)
    out = ClockOutput()
    session: AgentSession[None] = AgentSession(llm=model, tts=tts)
    session.output.audio = out
    await session.start(Agent(instructions="Answer."), record=False)
    await session.generate_reply(user_input="Hi")
    for rep in range(repeat):
        for rate in rates:
            for i, reply in enumerate(REPLIES):
                model.reply, model.gap_s = reply, 1 / rate
                n_before = len(out.frames)
                await session.generate_reply(user_input="Tell me.")
                first = out.frames[n_before][0] if len(out.frames) > n_before else None
                rows.append({"service": f"voicetrace-{engine}", "framework": "livekit", "tokens_per_s": rate,
                             "reply": i, "repeat": rep, "first_audio_ms": _ms(model.first_token_at, first)})
                print(f"  livekit voicetrace-{engine} {rate:4.0f} tok/s reply {i}: first audio "
                      f"{rows[-1]['first_audio_ms']} ms", file=sys.stderr)
    await session.aclose()
    await tts.aclose()
    return rows


# ---- the suite ----------------------------------------------------------------------------------------------

def run_frameworks(engines: list[str], repeat: int, out_dir: Path) -> dict[str, Any]:
    try:
        services = _services(engines)
    except ImportError as exc:
        print(f"voicetrace: the frameworks suite needs the bench extra ({exc.name} is missing): "
              "make bench-setup", file=sys.stderr)
        raise SystemExit(2) from exc
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")  # Pipecat logs every frame at DEBUG
    rows: list[dict[str, Any]] = []
    with CpuClock() as clock:
        for name, make in services.items():
            print(f"pipecat: {name}", file=sys.stderr)
            rows += asyncio.run(_pipecat_service(name, make, RATES, repeat, clock))
    lk_rows: list[dict[str, Any]] = []
    for engine in engines:
        lk_rows += asyncio.run(_livekit_runs(engine, RATES, repeat))
    res = {"pipecat": rows, "livekit": lk_rows, "summary": summarize(rows, lk_rows),
           "setup": {"rates": RATES, "repeat": repeat, "interrupt_after_s": INTERRUPT_AFTER_S,
                     "rest": f"under {REST_SHARE:.0%} of a core over {REST_S * 1000:.0f} ms",
                     "busy": f"over {BUSY_SHARE:.0%} of a core over the last {BUSY_S * 1000:.0f} ms"}}
    save_results(out_dir, "frameworks", res, report(res))
    return res


def summarize(rows: list[dict[str, Any]], lk_rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in dict.fromkeys(r["service"] for r in rows):
        mine = [r for r in rows if r["service"] == name]
        replies = [r for r in mine if r["kind"] == "reply"]
        stops = [r for r in mine if r["kind"] == "interrupt"]
        out[f"pipecat {name}"] = {
            **{f"first_audio_ms@{rate:.0f}": distribution(r["first_audio_ms"] for r in replies
                                                          if r["tokens_per_s"] == rate) for rate in RATES},
            "word_frames_per_word": round(sum(r["word_frames"] for r in replies)
                                          / max(1, sum(r["words"] for r in replies)), 2),
            "interrupted_while_busy": f"{sum(bool(r.get('busy_at_interrupt')) for r in stops)}/{len(stops)}",
            "interrupt_to_last_audio_ms": distribution(r.get("interrupt_to_last_audio_ms") for r in stops),
            "interrupt_to_idle_ms": distribution(r.get("interrupt_to_idle_ms") for r in stops),
            "voicetrace_cancel_to_idle_ms": distribution(r["voicetrace"].get("cancel_to_idle_ms") for r in stops),
        }
    for name in dict.fromkeys(r["service"] for r in lk_rows):
        mine = [r for r in lk_rows if r["service"] == name]
        out[f"livekit {name}"] = {f"first_audio_ms@{rate:.0f}": distribution(
            r["first_audio_ms"] for r in mine if r["tokens_per_s"] == rate) for rate in RATES}
    return out


def report(res: dict[str, Any]) -> str:
    def med(d: dict[str, Any] | None) -> str:
        return "–" if not d or d.get("median") is None else f"{d['median']:.0f}"

    lines = ["# Frameworks: VoiceTrace in Pipecat and LiveKit Agents, against their stock local TTS", "",
             "| framework · service | first audio @10 tok/s | @30 tok/s | word timestamps | interruption → last "
             "audio | → engine idle (OS) | VoiceTrace's ack |", "|---|---|---|---|---|---|---|"]
    for name, s in res["summary"].items():
        words = s.get("word_frames_per_word")
        lines.append(f"| {name} | {med(s.get('first_audio_ms@10'))} ms | {med(s.get('first_audio_ms@30'))} ms | "
                     f"{'–' if words is None else ('yes' if words >= 0.9 else f'no ({words}/word)')} | "
                     f"{med(s.get('interrupt_to_last_audio_ms'))} ms | {med(s.get('interrupt_to_idle_ms'))} ms | "
                     f"{med(s.get('voicetrace_cancel_to_idle_ms'))} ms |")
    st = res["setup"]
    lines += ["", f"Medians over {len(REPLIES)} replies × {st['repeat']} repeats (first audio: the first "
              "LLM text frame → the first audio frame after the service). The interruption: a long reply at 30 "
              f"tok/s, {st['interrupt_after_s']} s or more after its first audio, while the engine works "
              f"({st['busy']}); engine idle: the process's CPU at rest ({st['rest']}), the OS's clock. LiveKit: "
              "VoiceTrace's TTS in an AgentSession, the model's first token → the first audio frame captured."]
    return "\n".join(lines) + "\n"
