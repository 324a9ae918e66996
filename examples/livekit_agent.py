"""A LiveKit agent speaking with VoiceTrace, offline: LiveKit's own `AgentSession` with a stand-in chat model
that streams its reply token by token (30 tokens/s), VoiceTrace's LiveKit TTS, and an audio output that plays
on the clock into a WAV file instead of a room. Prints LiveKit's TTS metrics, VoiceTrace's record of the
request, and what the session's chat history kept of the reply. With --interrupt-after the agent's speech is
interrupted that many seconds in (what a user barging in does): the request is cancelled in flight.

    pip install 'voicetrace[livekit]'
    python examples/livekit_agent.py [ENGINE] [--interrupt-after SECONDS] [--out reply.wav]

In a real agent the stand-in is an LLM plugin and the output is the room's; the TTS is the same.
"""

import argparse
import asyncio
import re
import time
import wave

from livekit import rtc
from livekit.agents import Agent, AgentSession, llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from livekit.agents.voice.io import AudioOutput, AudioOutputCapabilities, TextOutput
from livekit.agents.voice.transcription.synchronizer import TranscriptSynchronizer

from voicetrace.integrations.livekit import TTS

REPLY = ("Sure. Streaming speech starts while the reply is still being written, so you hear the first words "
         "after a fraction of a second instead of waiting for the whole answer. If you interrupt, the engine "
         "stops at once, and the words you actually heard are reported back.")
RATE = 24_000


class StandInLLM(llm.LLM):
    """Answers anything with REPLY, a token at a time, as a chat model streams it."""

    def chat(self, *, chat_ctx, tools=None, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS, **_):
        return _Reply(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class _Reply(llm.LLMStream):
    async def _run(self) -> None:
        for token in re.findall(r"\s*\S+", REPLY):
            await asyncio.sleep(1 / 30)
            self._event_ch.send_nowait(llm.ChatChunk(id="reply", delta=llm.ChoiceDelta(role="assistant",
                                                                                        content=token)))


class PrintedTranscript(TextOutput):
    """The agent's transcript as LiveKit releases it, in step with the audio (word times from the TTS)."""

    def __init__(self) -> None:
        super().__init__(label="printed", next_in_chain=None)
        self.t0 = time.monotonic()

    async def capture_text(self, text: str) -> None:
        if text.strip():
            print(f"  {time.monotonic() - self.t0:6.2f} s  {text.strip()}")

    def flush(self) -> None:
        pass


class WavOutput(AudioOutput):
    """Plays on the clock (a segment ends when its audio's length has passed), keeping the audio for a WAV file;
    clear_buffer (an interruption) stops it where it was."""

    def __init__(self) -> None:
        super().__init__(label="wav", capabilities=AudioOutputCapabilities(pause=False), sample_rate=RATE)
        self.pcm = bytearray()
        self._t0: float | None = None
        self._length = 0.0
        self._timer: asyncio.TimerHandle | None = None

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if self._t0 is None:
            self._t0 = time.monotonic()
            self.on_playback_started(created_at=time.time())
        self._length += frame.duration
        self.pcm += frame.data.tobytes()

    def flush(self) -> None:
        super().flush()
        if self._t0 is not None:
            left = self._length - (time.monotonic() - self._t0)
            self._timer = asyncio.get_running_loop().call_later(max(0.0, left), self._finished, False)

    def clear_buffer(self) -> None:
        if self._t0 is not None:
            played = time.monotonic() - self._t0
            self.pcm = self.pcm[:int(played * RATE) * 2]  # what was not played yet is dropped
            self._finished(True)

    def _finished(self, interrupted: bool) -> None:
        if self._timer is not None:
            self._timer.cancel()
        position = min(self._length, time.monotonic() - (self._t0 or 0.0))
        self._t0, self._length, self._timer = None, 0.0, None
        self.on_playback_finished(playback_position=position, interrupted=interrupted)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("engine", nargs="?", default="kokoro", help="kokoro, piper, a model id, or ws://host:port")
    ap.add_argument("--interrupt-after", type=float, default=None, metavar="SECONDS")
    ap.add_argument("--out", default="reply.wav")
    args = ap.parse_args()

    tts = TTS(engine=args.engine, sample_rate=RATE)
    tts.on("metrics_collected", lambda m: print(
        f"LiveKit TTSMetrics: ttfb {m.ttfb * 1000:.0f} ms, audio {m.audio_duration:.2f} s, "
        f"{m.characters_count} characters, cancelled {m.cancelled}"))
    tts.on("voicetrace_metrics", lambda ev: print(
        f"VoiceTrace: {ev[1].outcome}, first chunk {ev[1].first_chunk_ms:.0f} ms after the first text, "
        f"cancel -> engine idle {ev[1].cancel_to_idle_ms} ms"))
    await asyncio.to_thread(tts.engine.wait_ready, 300)  # the model loads and warms once, before the user

    out = WavOutput()
    session = AgentSession(llm=StandInLLM(), tts=tts, use_tts_aligned_transcript=True)
    # LiveKit's synchronizer releases the transcript word by word as the audio plays, and on an interruption
    # tells the session what had been heard
    sync = TranscriptSynchronizer(next_in_chain_audio=out, next_in_chain_text=PrintedTranscript())
    session.output.audio = sync.audio_output
    session.output.transcription = sync.text_output
    await session.start(Agent(instructions="Explain streaming speech."), record=False)
    handle = session.generate_reply(user_input="Tell me about streaming speech.")
    if args.interrupt_after is not None:
        done = asyncio.ensure_future(handle.wait_for_playout())
        await asyncio.wait([done], timeout=args.interrupt_after)
        if not done.done():
            print("-- the user interrupts --")
            await session.interrupt()
    await handle
    await asyncio.sleep(0.3)  # the record of a cancelled request comes once the engine acknowledged
    for item in session.history.items:
        if getattr(item, "role", None) == "assistant":
            print(f"the history keeps: {item.text_content!r} (interrupted: {item.interrupted})")
    await session.aclose()
    await sync.aclose()
    await tts.aclose()
    with wave.open(args.out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(bytes(out.pcm))
    print(f"wrote {len(out.pcm) / 2 / RATE:.2f} s of audio to {args.out}")


if __name__ == "__main__":
    asyncio.run(main())
