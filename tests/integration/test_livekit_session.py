"""The LiveKit TTS inside LiveKit's own `AgentSession` (no room: a scripted chat model, an audio output that
plays on the event loop's clock): the reply the model streams is spoken, and an interruption of the agent's
speech (`session.interrupt()`, what a user barging in triggers) cancels the VoiceTrace request in flight."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from livekit import rtc
from livekit.agents import Agent, AgentSession, llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from livekit.agents.voice.io import AudioOutput, AudioOutputCapabilities

from voicetrace.contract import RequestMetrics
from voicetrace.integrations.livekit import TTS
from voicetrace.testing.fakes import FakeCost, fake_source
from voicetrace.text.feed import token_pieces

LONG = ("This answer goes on for a while, so that the user has time to interrupt it in the middle of a "
        "sentence, and the engine is still busy making the next phrase when the interruption arrives here.")


class ScriptedLLM(llm.LLM):
    """A chat model that streams one fixed reply, a token every `gap_s`."""

    def __init__(self, reply: str, gap_s: float = 0.01) -> None:
        super().__init__()
        self.reply, self.gap_s = reply, gap_s

    def chat(self, *, chat_ctx: llm.ChatContext, tools: list[Any] | None = None,
             conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS, **_: Any) -> llm.LLMStream:
        return _Reply(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class _Reply(llm.LLMStream):
    async def _run(self) -> None:
        model = self._llm
        assert isinstance(model, ScriptedLLM)
        for token in token_pieces(model.reply):
            await asyncio.sleep(model.gap_s)
            self._event_ch.send_nowait(llm.ChatChunk(id="reply", delta=llm.ChoiceDelta(role="assistant",
                                                                                        content=token)))


class ClockOutput(AudioOutput):
    """An audio sink that 'plays' in real time: a segment ends when its audio's duration has passed since its
    first frame; clear_buffer (an interruption) ends it where it was."""

    def __init__(self) -> None:
        super().__init__(label="clock", capabilities=AudioOutputCapabilities(pause=False))
        self.captured_s = 0.0
        self.frames: list[tuple[float, float]] = []  # (time.monotonic() of capture, duration)
        self._t0: float | None = None
        self._segment_s = 0.0
        self._timer: asyncio.TimerHandle | None = None

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if self._t0 is None:
            self._t0 = time.monotonic()
            self.on_playback_started(created_at=time.time())
        self._segment_s += frame.duration
        self.captured_s += frame.duration
        self.frames.append((time.monotonic(), frame.duration))

    def flush(self) -> None:
        super().flush()
        if self._t0 is None:
            return
        left = self._segment_s - (time.monotonic() - self._t0)
        self._timer = asyncio.get_running_loop().call_later(max(0.0, left), self._finished, False)

    def clear_buffer(self) -> None:
        if self._t0 is not None:
            self._finished(True)

    def _finished(self, interrupted: bool) -> None:
        if self._timer is not None:
            self._timer.cancel()
        assert self._t0 is not None
        position = min(self._segment_s, time.monotonic() - self._t0)
        self._t0, self._segment_s, self._timer = None, 0.0, None
        self.on_playback_finished(playback_position=position, interrupted=interrupted)



def test_an_interruption_in_an_agent_session_cancels_the_speech_in_flight(slow_fake):
    async def main() -> tuple[ClockOutput, list[tuple[str, RequestMetrics]], Any, float]:
        tts = TTS(engine=slow_fake, sample_rate=16_000)
        records: list[tuple[str, RequestMetrics]] = []
        tts.on("voicetrace_metrics", records.append)
        out = ClockOutput()
        session: AgentSession[None] = AgentSession(llm=ScriptedLLM(LONG), tts=tts)
        session.output.audio = out
        await session.start(Agent(instructions="Answer at length."), record=False)
        handle = session.generate_reply(user_input="Tell me something long.")
        while out.captured_s < 0.4:
            await asyncio.sleep(0.02)
        t_interrupt = time.monotonic()
        await session.interrupt()
        await asyncio.sleep(0.5)
        await handle
        await session.aclose()
        await tts.aclose()
        return out, records, handle, t_interrupt

    out, records, handle, t_interrupt = asyncio.run(main())
    assert handle.interrupted
    assert not [t for t, _ in out.frames if t > t_interrupt + 0.05], "no audio of the reply after the interruption"
    ((_, rec),) = records
    assert rec.outcome == "cancelled" and rec.stream_input
    # An abort, not the phrase in flight finished: at rtf 1.0 its pieces take up to ~2 s of compute; the
    # abort takes milliseconds (the bound is far from both, so load cannot flip it).
    assert rec.cancel_to_idle_ms is not None and rec.cancel_to_idle_ms < 1000  # not a timing
    assert rec.audio_ms / 1000 < len(LONG) * 0.02  # the engine stopped before the whole reply was made


def test_an_agent_session_speaks_the_streamed_reply(slow_fake):
    fast = fake_source(FakeCost(rtf=0.05, audio_s_per_char=0.005), pieces=2)

    async def main() -> tuple[ClockOutput, list[tuple[str, RequestMetrics]], Any]:
        tts = TTS(engine=fast, sample_rate=16_000)
        records: list[tuple[str, RequestMetrics]] = []
        tts.on("voicetrace_metrics", records.append)
        out = ClockOutput()
        session: AgentSession[None] = AgentSession(llm=ScriptedLLM("Sure. Here is a short answer.", 0.005),
                                                   tts=tts)
        session.output.audio = out
        await session.start(Agent(instructions="Answer briefly."), record=False)
        handle = session.generate_reply(user_input="Hi!")
        await handle
        await session.aclose()
        await tts.aclose()
        return out, records, handle

    try:
        out, records, handle = asyncio.run(main())
    finally:
        fast.stop()
    assert not handle.interrupted and out.captured_s > 0.1
    assert [r.outcome for _, r in records] == ["done"]
