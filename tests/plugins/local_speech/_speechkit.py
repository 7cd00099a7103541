"""Helpers of the local speech tests: the provider kit, framing, and driving a recogniser."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artagent.audio import FRAME_BYTES, FrameSplitter
from artagent.providers import AudioChunk, Transcript
from artagent_local_speech.providers import LocalSpeech
from artagent_local_speech.stt import WhisperSTT
from artagent_local_speech.tts import PiperTTS
from artagent_local_speech.vad import SileroVAD
from prometheus_client import CollectorRegistry

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))  # the claims corpus is shared with the benchmark

SILENCE = bytes(FRAME_BYTES)


@dataclass
class Kit:
    """The plugin's default providers, warmed up, and the registry their pools report to."""

    registry: CollectorRegistry
    speech: LocalSpeech
    vad: SileroVAD
    stt: WhisperSTT
    tts: PiperTTS


async def collect(chunks: AsyncIterator[AudioChunk]) -> bytes:
    return b"".join([chunk.pcm async for chunk in chunks])


def frames(pcm: bytes) -> list[bytes]:
    """20 ms frames, the last one padded with silence."""
    return FrameSplitter().feed(pcm + bytes((-len(pcm)) % FRAME_BYTES))


async def push_all(stream: Any, pieces: Iterable[bytes]) -> None:
    for frame in pieces:
        await stream.push(frame)


async def recognise(stt: WhisperSTT, pcm: bytes, *, lead_s: float = 0.3, tail_s: float = 0.3) -> Transcript:
    """One utterance through a fresh stream, as the engine drives it: silence, the speech, the
    silence the VAD waits for, end_of_speech(); returns the final."""
    stream = await stt.open(sample_rate=16_000)
    try:
        await push_all(
            stream, [SILENCE] * round(lead_s / 0.02) + frames(pcm) + [SILENCE] * round(tail_s / 0.02)
        )
        await stream.end_of_speech()
        async with asyncio.timeout(30):
            return await anext(stream.results())
    finally:
        await stream.close()
