"""Barge-in from code: cancel a long answer after its first chunk; once cancel() returns nothing more comes.

    python examples/cancel_midway.py [ENGINE]
"""

import sys

import voicetrace as vt

engine = vt.load(sys.argv[1] if len(sys.argv) > 1 else "piper")
stream = engine.stream("This is a long answer that the user interrupts. " * 10)
first = next(stream)
print(f"first chunk: {len(first.audio) / first.sample_rate:.2f} s of audio")
stream.cancel()  # returns once the engine has acknowledged: the run in flight is aborted
print(f"after cancel: {len(list(stream))} more chunks")
m = stream.metrics()
print(f"{m.outcome}: cancel -> engine idle {m.cancel_to_idle_ms:.1f} ms")
engine.close()
