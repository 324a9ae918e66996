"""Playback: the tagged ring buffer, the PortAudio player and device choice."""
