"""The LiveKit TTS inside LiveKit's own `AgentSession` (no room: a scripted chat model, an audio output that
plays on the event loop's clock): the reply the model streams is spoken, and an interruption of the agent's
speech (`session.interrupt()`, what a user barging in triggers) cancels the VoiceTrace request in flight."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from livekit.agents import Agent, AgentSession

from voicetrace.contract import RequestMetrics
from voicetrace.integrations.livekit import TTS
from voicetrace.testing.fakes import FakeCost, fake_source
from voicetrace.testing.livekit_session import ClockOutput, ScriptedLLM

LONG = ("This answer goes on for a while, so that the user has time to interrupt it in the middle of a "
        "sentence, and the engine is still busy making the next phrase when the interruption arrives here.")


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
