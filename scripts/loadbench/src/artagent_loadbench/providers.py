"""STT, TTS and model providers with a cloud service's fixed latencies and next to no CPU.

- ``stt`` ``scripted``: the caller's words, known from the marker their audio carries
  (:mod:`artagent_loadbench.script`); the final transcript ``stt_final_s`` after the VAD said
  the caller stopped; no partials.
- ``tts`` ``fixed``: ``seconds_per_char`` of audio per character, the first audio after
  ``tts_first_audio_s``, the rest at once in 200 ms chunks (a streaming service outruns
  playout).
- ``model`` ``delayed_flows``: the offline flows engine (the real insurance scenario, its real
  CPU), whose first item of a caller turn comes ``model_first_token_s`` after the request;
  later requests of the same turn (after its tools ran, a handoff) answer at once.

Timers are the event loop's own (``call_later``, ``asyncio.sleep``): no task per frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from artagent.providers import AudioChunk, ModelItem, ModelRequest, Transcript, VoiceSpec

from artagent_loadbench.script import MARK_BYTES, marker_table

__all__ = ["DelayedRouter", "FixedTTS", "ScriptedSTT", "ScriptedSTTStream"]

RATE = 16_000


class ScriptedSTTStream:
    """One call's recogniser: remembers the last utterance marker pushed; at the end of speech
    its text is the final transcript (an empty one when no marked audio came since)."""

    __slots__ = ("_heard", "_latency_s", "_loop", "_markers", "_queue", "_texts", "closed")

    def __init__(self, texts: list[str], markers: dict[bytes, int], latency_s: float) -> None:
        self._texts, self._markers, self._latency_s = texts, markers, latency_s
        self._heard: int | None = None
        self._queue: asyncio.Queue[Transcript | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self.closed = False

    async def push(self, frame: bytes) -> None:
        index = self._markers.get(frame[:MARK_BYTES])
        if index is not None:
            self._heard = index

    async def end_of_speech(self) -> None:
        heard, self._heard = self._heard, None
        text = self._texts[heard] if heard is not None and heard < len(self._texts) else ""
        final = Transcript(text=text, is_final=True, confidence=1.0)
        self._loop.call_later(self._latency_s, self._deliver, final)

    def _deliver(self, final: Transcript) -> None:
        if not self.closed:
            self._queue.put_nowait(final)

    async def results(self) -> AsyncIterator[Transcript]:
        while (item := await self._queue.get()) is not None:
            yield item

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(None)


class ScriptedSTT:
    """The ``scripted`` STT provider: every call reads the same script."""

    def __init__(self, texts: list[str], final_latency_s: float) -> None:
        self.texts, self.final_latency_s = texts, final_latency_s
        self.markers = marker_table(len(texts))

    async def open(self, *, sample_rate: int, language: str | None = None) -> ScriptedSTTStream:
        if sample_rate != RATE:
            raise ValueError("the scripted recogniser reads 16 kHz audio")
        return ScriptedSTTStream(self.texts, self.markers, self.final_latency_s)


class FixedTTS:
    """The ``fixed`` TTS provider: a quiet tone as long as the text would take to say."""

    CHUNK_S = 0.2

    def __init__(self, first_audio_s: float, seconds_per_char: float) -> None:
        self.first_audio_s, self.seconds_per_char = first_audio_s, seconds_per_char
        samples = int(RATE * self.CHUNK_S)
        pattern = (1000).to_bytes(2, "little", signed=True) + (-1000).to_bytes(2, "little", signed=True)
        self._chunk = pattern * (samples // 2)

    async def synthesize(self, text: str, *, voice: VoiceSpec | None = None) -> AsyncIterator[AudioChunk]:
        await asyncio.sleep(self.first_audio_s)
        left = round(len(text) * self.seconds_per_char * RATE) * 2
        chunk = self._chunk
        while left > 0:
            piece = chunk if left >= len(chunk) else chunk[:left]
            left -= len(piece)
            yield AudioChunk(piece, RATE)


class DelayedRouter:
    """The ``delayed_flows`` model: the flows engine, slowed to a cloud model's first token."""

    def __init__(self, inner: Any, first_token_s: float) -> None:
        self.inner, self.first_token_s = inner, first_token_s

    def unavailable(self) -> str | None:
        check = getattr(self.inner, "unavailable", None)
        return check() if callable(check) else None

    async def warm_up(self) -> None:
        """The flows engine's own warm-up (dateparser's data and regular expressions), before
        readiness as in production: without it the first call's first date blocks the worker's
        event loop for a few hundred milliseconds, and every other call's audio with it."""
        warm_up = getattr(self.inner, "warm_up", None)
        if callable(warm_up):
            await warm_up()

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelItem]:
        said = [m for m in request.messages if getattr(m, "role", "") != "system"]
        if said and getattr(said[-1], "role", "") == "user":
            await asyncio.sleep(self.first_token_s)  # a new caller turn: the model "thinks"
        async for item in self.inner.stream(request):
            yield item
