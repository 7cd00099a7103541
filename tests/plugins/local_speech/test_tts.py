"""Text to speech with the real Piper voice: streamed pieces at the session rate, the speaking
rate, voices by name and path with a fallback warned once, and cancellation."""

from __future__ import annotations

import asyncio
import logging

import pytest
from _speechkit import Kit, collect
from artagent.providers import AudioChunk, VoiceSpec
from artagent_local_speech.config import TTSConfig
from artagent_local_speech.models import bundled_voice
from artagent_local_speech.pool import InferencePool, PoolMetrics
from artagent_local_speech.tts import PiperTTS, clause_pieces
from prometheus_client import CollectorRegistry

RATE = 16_000
LONG = "Thank you for calling, Sarah; I have your policy open, and I can see the claim from March."


def seconds(pcm: bytes, rate: int = RATE) -> float:
    return len(pcm) / 2 / rate


async def test_audio_comes_clause_by_clause_at_16_khz(kit: Kit) -> None:
    chunks: list[AudioChunk] = [chunk async for chunk in kit.tts.synthesize(LONG)]
    assert len(chunks) >= 3  # cut at the comma, the semicolon and the next comma
    assert {chunk.sample_rate for chunk in chunks} == {RATE}
    assert all(len(chunk.pcm) % 2 == 0 and chunk.pcm for chunk in chunks)
    assert 3.5 < seconds(b"".join(c.pcm for c in chunks)) < 9.0


async def test_a_sentence_is_one_piece_without_clause_splitting(kit: Kit) -> None:
    tts = PiperTTS(TTSConfig(split_clauses=False, sample_rate=0), kit.tts.pool)
    chunks = [chunk async for chunk in tts.synthesize(LONG)]
    assert len(chunks) == 1
    assert chunks[0].sample_rate == 22_050  # the voice's own rate


def test_short_clauses_stay_with_the_next_one(kit: Kit) -> None:
    piper = kit.tts.voices.load(kit.tts.voices.default)
    [phonemes] = piper.phonemize("Okay, so the accident happened, on March third.")
    pieces = clause_pieces(phonemes)
    assert len(pieces) == 2  # "Okay," alone is too short: it goes with "so the accident happened,"
    assert pieces[0][-1] == "," and pieces[0].count(",") == 2
    assert [p for piece in pieces for p in piece] == phonemes


@pytest.mark.parametrize("rate", [1.5, 0.75])
async def test_the_voice_rate_changes_the_speaking_speed(kit: Kit, rate: float) -> None:
    text = "The tow truck took my car to a body shop on Washington Boulevard."
    normal = seconds(await collect(kit.tts.synthesize(text)))
    changed = seconds(await collect(kit.tts.synthesize(text, voice=VoiceSpec(rate=rate))))
    assert changed == pytest.approx(normal / rate, rel=0.2)


async def test_an_unknown_voice_falls_back_to_the_default_with_one_warning_per_name(
    kit: Kit, caplog: pytest.LogCaptureFixture
) -> None:
    tts = PiperTTS(TTSConfig(), kit.tts.pool)
    caplog.set_level(logging.WARNING, logger="artagent_local_speech.voices")
    for name in ["en-US-JennyNeural", "en-US-JennyNeural", "alloy", "en-US-JennyNeural"]:
        assert await collect(tts.synthesize("Okay.", voice=VoiceSpec(name=name)))
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2
    assert "'en-US-JennyNeural'" in warned[0] and "en_US-joe-medium" in warned[0]
    assert "'alloy'" in warned[1]


async def test_voices_by_name_by_table_and_by_path_need_no_warning(
    kit: Kit, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(bundled_voice())
    tts = PiperTTS(TTSConfig(voices={"joe": path}), kit.tts.pool)
    caplog.set_level(logging.WARNING, logger="artagent_local_speech.voices")
    for name in ["en_US-joe-medium", "joe", path]:
        assert await collect(tts.synthesize("Okay.", voice=VoiceSpec(name=name)))
    assert caplog.records == []


async def test_closing_the_stream_stops_the_synthesis(kit: Kit) -> None:
    registry = CollectorRegistry()
    pool = InferencePool("tts", 1, PoolMetrics(registry))
    tts = PiperTTS(TTSConfig(), pool)

    def jobs() -> float:
        return (
            registry.get_sample_value("artagent_local_speech_inference_seconds_count", {"pool": "tts"}) or 0.0
        )

    stream = tts.synthesize(LONG + " " + LONG)  # eight pieces
    assert (await anext(stream)).pcm
    done = jobs()  # phonemizing and the first piece: one job (the voice is loaded already)
    await stream.aclose()  # type: ignore[attr-defined]
    await asyncio.sleep(0.3)
    assert jobs() == done == 1
    pool.close()


async def test_empty_text_gives_no_audio(kit: Kit) -> None:
    assert await collect(kit.tts.synthesize("   ")) == b""
