"""A Pipecat agent's speaking half, offline: a stand-in LLM streams its reply token by token (30 tokens/s) into
VoiceTrace's Pipecat TTS service; the audio is written to a WAV file as Pipecat's frames bring it, each word is
printed when Pipecat's word timestamps place it, and the figures come from Pipecat's metrics frames and from
VoiceTrace's record of the turn. With --interrupt-after the user "barges in" that many seconds into the reply.

    pip install 'voicetrace[pipecat]'
    python examples/pipecat_agent.py [ENGINE] [--interrupt-after SECONDS] [--out reply.wav]

In a real agent the stand-in is an LLM service, the WAV writer `transport.output()`; the service is the same.
"""

import argparse
import asyncio
import re
import sys
import wave

from loguru import logger
from pipecat.frames.frames import (
    EndFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    MetricsFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.metrics.metrics import TTFBMetricsData
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from voicetrace.integrations.pipecat import VoiceTraceTTSService

REPLY = ("Sure. Streaming speech starts while the reply is still being written, so you hear the first words "
         "after a fraction of a second instead of waiting for the whole answer. If you interrupt, the engine "
         "stops at once, and the words you actually heard are reported back.")
RATE = 24_000


class StandInLLM(FrameProcessor):
    """Answers each user transcription with REPLY, a token at a time, as an LLM service streams it."""

    def __init__(self, tokens_per_s: float = 30.0) -> None:
        super().__init__()
        self.gap_s = 1 / tokens_per_s
        self._reply: asyncio.Task | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            self._reply = self.create_task(self._stream_reply())
        elif isinstance(frame, InterruptionFrame) and self._reply is not None:
            await self.cancel_task(self._reply)  # the user spoke: this reply stops being written
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    async def _stream_reply(self) -> None:
        await self.push_frame(LLMFullResponseStartFrame())
        for token in re.findall(r"\s*\S+", REPLY):
            await asyncio.sleep(self.gap_s)
            await self.push_frame(LLMTextFrame(token))
        await self.push_frame(LLMFullResponseEndFrame())


class WavWriter(FrameProcessor):
    """Where the transport's output would be: the audio kept for a WAV file, the words and figures printed."""

    def __init__(self, done: asyncio.Event) -> None:
        super().__init__()
        self.pcm = bytearray()
        self.audio_s = 0.0
        self.first_pts: int | None = None
        self.done = done

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.pcm += frame.audio
            self.audio_s += frame.num_frames / frame.sample_rate
        elif isinstance(frame, TTSTextFrame) and frame.pts:
            self.first_pts = self.first_pts or frame.pts
            print(f"  {(frame.pts - self.first_pts) / 1e9:6.2f} s  {frame.text}")
        elif isinstance(frame, MetricsFrame):
            for d in frame.data:
                if isinstance(d, TTFBMetricsData) and d.value > 0:
                    print(f"Pipecat TTFB (first text -> first audio frame): {d.value * 1000:.0f} ms")
        elif isinstance(frame, TTSStoppedFrame | InterruptionFrame):
            self.done.set()
        await self.push_frame(frame, direction)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("engine", nargs="?", default="kokoro", help="kokoro, piper, a model id, or ws://host:port")
    ap.add_argument("--interrupt-after", type=float, default=None, metavar="SECONDS")
    ap.add_argument("--out", default="reply.wav")
    args = ap.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")  # Pipecat logs every frame at DEBUG

    tts = VoiceTraceTTSService(engine=args.engine)

    @tts.event_handler("on_voicetrace_metrics")
    async def on_metrics(service, context_id, m):
        print(f"VoiceTrace: {m.outcome}, first chunk {m.first_chunk_ms:.0f} ms after the first text, "
              f"RTF {m.rtf}, cancel -> engine idle {m.cancel_to_idle_ms} ms")

    done = asyncio.Event()
    writer = WavWriter(done)
    worker = PipelineWorker(Pipeline([StandInLLM(), tts, writer]),
                            params=PipelineParams(audio_out_sample_rate=RATE, enable_metrics=True))

    async def converse() -> None:
        await asyncio.to_thread(tts.engine.wait_ready, 300)  # the model loads and warms once, before the user
        await worker.queue_frame(TranscriptionFrame("Tell me about streaming speech.", "user", ""))
        if args.interrupt_after is not None:
            await asyncio.sleep(args.interrupt_after)
            print("-- the user interrupts --")
            await worker.queue_frame(InterruptionFrame())
        await done.wait()
        await asyncio.sleep(0.3)  # the record of a cancelled turn comes once the engine acknowledged
        await worker.queue_frame(EndFrame())

    runner = WorkerRunner()
    await runner.add_workers(worker)
    await asyncio.gather(runner.run(), converse())
    with wave.open(args.out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(bytes(writer.pcm))
    print(f"wrote {writer.audio_s:.2f} s of audio to {args.out}")


if __name__ == "__main__":
    asyncio.run(main())
