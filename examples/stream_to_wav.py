"""Stream speech from a local engine into a WAV file, chunk by chunk, with no sound card.

    python examples/stream_to_wav.py [OUT.wav] [ENGINE]
"""

import sys
import wave

import numpy as np

import voicetrace as vt

out = sys.argv[1] if len(sys.argv) > 1 else "hello.wav"
engine = vt.load(sys.argv[2] if len(sys.argv) > 2 else "piper")  # loads and warms; vt.ModelError says the fix
stream = engine.stream("Hello there. This sentence is streamed in chunks as it is made.", sample_rate=16000)
with wave.open(out, "wb") as f:
    f.setnchannels(1)
    f.setsampwidth(2)
    f.setframerate(stream.sample_rate)
    for chunk in stream:  # vt.TtsChunk: request_id, chunk_index, audio (float32), is_final, sample_rate
        f.writeframes((np.clip(chunk.audio, -1, 1) * 32767).astype("<i2").tobytes())
        print(f"chunk {chunk.chunk_index}: {len(chunk.audio) / chunk.sample_rate:.2f} s, final={chunk.is_final}")
m = stream.metrics()  # vt.RequestMetrics: the same fields as `voicetrace speak --json`
print(f"{m.outcome}: first chunk after {m.first_chunk_ms:.0f} ms, RTF {m.rtf:.3f}, {m.audio_ms / 1000:.1f} s -> {out}")
engine.close()
