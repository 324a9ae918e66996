"""VoiceTrace: streaming local text-to-speech that measures its own latency truthfully.

    import voicetrace as vt
    engine = vt.load("piper")
    for chunk in engine.stream("Hello there."): ...
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"  # before the imports below: modules they load may read it

from .api import Engine, RemoteEngine, load
from .contract import BargeInMetrics, ChunkMetrics, RequestMetrics, TtsChunk
from .core.session import Request, Session
from .core.sink import AudioSink, StreamSink
from .core.source import ChunkSource
from .core.stream import Stream
from .errors import DeviceError, ModelError, SynthesisCancelled, UserError

if TYPE_CHECKING:
    from .audio.player import Player

__all__ = [
    "AudioSink", "BargeInMetrics", "ChunkMetrics", "ChunkSource", "DeviceError", "Engine", "ModelError", "Player",
    "RemoteEngine", "Request", "RequestMetrics", "Session", "Stream", "StreamSink", "SynthesisCancelled", "TtsChunk",
    "UserError", "__version__", "load",
]


def __getattr__(name: str) -> Any:
    # PortAudio is loaded only by code that plays: `import voicetrace` works on a machine without it.
    if name == "Player":
        from .audio.player import Player

        return Player
    raise AttributeError(f"module 'voicetrace' has no attribute {name!r}")
