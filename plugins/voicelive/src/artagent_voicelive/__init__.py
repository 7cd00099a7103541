"""ARTAgent plugin: speech-to-speech calls through a realtime model (Azure Voice Live, Azure
OpenAI Realtime, OpenAI Realtime)."""
