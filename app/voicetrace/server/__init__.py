"""`voicetrace serve`: the remote backend (OpenAI-compatible streaming HTTP + a WebSocket with cancel)."""
