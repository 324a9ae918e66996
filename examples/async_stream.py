"""The same stream for asyncio code: the event loop never blocks on synthesis.

    python examples/async_stream.py [ENGINE]
"""

import asyncio
import sys

import voicetrace as vt


async def main(name: str) -> None:
    engine = vt.load(name)
    seconds = 0.0
    async for chunk in engine.astream("Asynchronous speech, one chunk at a time.", sample_rate=24000):
        seconds += len(chunk.audio) / chunk.sample_rate
        await asyncio.sleep(0)  # a real agent would send the chunk to its transport here
    print(f"{seconds:.2f} s of audio")
    engine.close()


asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "piper"))
