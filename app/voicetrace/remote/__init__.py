"""The Remote engine: a `voicetrace serve` (WebSocket) or any OpenAI-compatible speech server (HTTP)."""
