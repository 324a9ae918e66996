"""VoiceTrace inside the voice-agent frameworks: `voicetrace.integrations.pipecat.VoiceTraceTTSService` (a
Pipecat `TTSService`, extra `voicetrace[pipecat]`) and `voicetrace.integrations.livekit.TTS` (a LiveKit Agents
`tts.TTS`, extra `voicetrace[livekit]`). Each module imports its framework; nothing else in VoiceTrace imports
them, so the app works without either installed. See docs/integrations.md."""
