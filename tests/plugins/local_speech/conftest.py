"""Real models, loaded once for the whole session: the plugin's providers, and the claims-call
sentences spoken by Piper (through the plugin's own TTS) and by espeak-ng."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from artagent_local_speech.config import LocalSpeechConfig
from artagent_local_speech.providers import LocalSpeech
from prometheus_client import CollectorRegistry

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))  # the claims corpus is shared with the benchmark

from _speech_corpus import CLAIMS, EspeakVoice  # noqa: E402
from _speechkit import Kit, collect  # noqa: E402


@pytest.fixture(scope="session")
def kit() -> Kit:
    registry = CollectorRegistry()
    speech = LocalSpeech(LocalSpeechConfig(), registry)
    kit = Kit(registry, speech, speech.silero({}), speech.whisper({}), speech.piper({}))

    async def warm() -> None:
        for provider in (kit.vad, kit.stt, kit.tts):
            await provider.warm_up()

    asyncio.run(warm())
    return kit


@pytest.fixture(scope="session")
def piper_claims(kit: Kit) -> list[bytes]:
    """Each claims sentence as the plugin's Piper voice says it, 16 kHz PCM16."""

    async def synthesize() -> list[bytes]:
        return [await collect(kit.tts.synthesize(text)) for text in CLAIMS]

    return asyncio.run(synthesize())


@pytest.fixture(scope="session")
def espeak() -> EspeakVoice:
    return EspeakVoice()


@pytest.fixture(scope="session")
def espeak_claims(espeak: EspeakVoice) -> list[bytes]:
    """Each claims sentence in espeak-ng's robotic voice, 16 kHz PCM16."""
    return [espeak.say(text) for text in CLAIMS]
