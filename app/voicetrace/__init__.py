"""VoiceTrace: streaming local text-to-speech that measures its own latency truthfully."""

__version__ = "0.1.0"
