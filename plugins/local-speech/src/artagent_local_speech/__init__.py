"""ARTAgent's embedded speech: faster-whisper STT, Piper TTS and Silero/WebRTC VAD, all offline."""
