"""LiveKit Agents' `AgentSession` run with no room: a chat model that streams a scripted reply, and an audio
output that "plays" on the event loop's clock (as LiveKit's own tests build a session). Used by the tests and by
`bench --suite frameworks`; needs livekit-agents."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from livekit import rtc
from livekit.agents import llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from livekit.agents.voice.io import AudioOutput, AudioOutputCapabilities

from ..text.feed import token_pieces


class ScriptedLLM(llm.LLM):
    """A chat model that streams one fixed reply, a token every `gap_s`."""

    def __init__(self, reply: str, gap_s: float = 0.01) -> None:
        super().__init__()
        self.reply, self.gap_s = reply, gap_s
        self.first_token_at: float | None = None  # time.monotonic() when the latest reply's first token went out

    def chat(self, *, chat_ctx: llm.ChatContext, tools: list[Any] | None = None,
             conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS, **_: Any) -> llm.LLMStream:
        return _Reply(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class _Reply(llm.LLMStream):
    async def _run(self) -> None:
        model = self._llm
        assert isinstance(model, ScriptedLLM)
        model.first_token_at = None
        for token in token_pieces(model.reply):
            await asyncio.sleep(model.gap_s)
            if model.first_token_at is None:
                model.first_token_at = time.monotonic()
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
