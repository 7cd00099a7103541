"""Speech to text with the real bundled model: accuracy on a claims call, speculation, more speech
before the turn ends, a busy pool, other sample rates, and the pool's metrics."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from _speech_corpus import CLAIMS, normalize, word_error_rate
from _speechkit import SILENCE, Kit, frames, push_all, recognise
from artagent.audio import resample
from artagent_local_speech.config import STTConfig
from artagent_local_speech.pool import InferencePool, PoolMetrics
from artagent_local_speech.stt import WhisperSTT
from artagent_local_speech.whisper import WhisperEngine
from prometheus_client import CollectorRegistry


async def transcribe_all(kit: Kit, clips: list[bytes]) -> list[str]:
    finals = await asyncio.gather(*(recognise(kit.stt, clip) for clip in clips))
    return [final.text for final in finals]


async def test_claims_call_in_the_piper_voice_is_transcribed_with_at_most_10_percent_wer(
    kit: Kit, piper_claims: list[bytes]
) -> None:
    said = await transcribe_all(kit, piper_claims)
    wer = word_error_rate(list(CLAIMS), said)
    assert wer <= 0.10, "\n".join(
        f"{normalize(r)!r} -> {normalize(h)!r}" for r, h in zip(CLAIMS, said, strict=True)
    )


async def test_claims_call_in_the_espeak_voice_is_transcribed_with_at_most_20_percent_wer(
    kit: Kit, espeak_claims: list[bytes]
) -> None:
    said = await transcribe_all(kit, espeak_claims)
    wer = word_error_rate(list(CLAIMS), said)
    assert wer <= 0.20, "\n".join(
        f"{normalize(r)!r} -> {normalize(h)!r}" for r, h in zip(CLAIMS, said, strict=True)
    )


def test_wer_counts_numbers_however_they_are_written() -> None:
    assert normalize("Policy 4 7 2 9, at 5:30 on March 3rd, $3,500.") == normalize(
        "policy forty-seven twenty-nine at five thirty on March third, 3500 dollars"
    )
    assert word_error_rate(["My ZIP code is 6 2 7 0 4."], ["my zip code is 62704"]) == 0.0
    assert word_error_rate(["My ZIP code is 6 2 7 0 4."], ["my zip code is 62705"]) == pytest.approx(1 / 9)


async def wait_for(condition: object, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]  # noqa: ASYNC110 (polling a flag)
            await asyncio.sleep(0.01)


async def pool_idle(kit: Kit) -> None:
    """Wait until the session's shared STT pool has finished what earlier tests left it."""
    async with asyncio.timeout(60):
        while not kit.stt.pool.idle:  # noqa: ASYNC110 (polling the pool's counters)
            await asyncio.sleep(0.05)


async def test_a_speculative_transcription_becomes_the_final_when_the_caller_stays_quiet(
    kit: Kit, piper_claims: list[bytes]
) -> None:
    await pool_idle(kit)  # a speculation starts only when the pool has a free thread
    stream = await kit.stt.open(sample_rate=16_000)
    await push_all(stream, [SILENCE] * 10 + frames(piper_claims[5]) + [SILENCE] * 15)
    speculation = stream._speculation
    assert speculation is not None, "300 ms of quiet after the speech should have started one"
    await wait_for(speculation.future.done)
    await stream.end_of_speech()  # the VAD decides later; the transcript is already there
    final = await anext(stream.results())
    await stream.close()
    assert stream.speculations == {"used": 1, "discarded": 0}
    assert normalize(final.text) == normalize(CLAIMS[5])


async def test_speech_after_a_pause_discards_the_speculation_and_the_final_has_every_word(
    kit: Kit, piper_claims: list[bytes]
) -> None:
    await pool_idle(kit)  # a speculation starts only when the pool has a free thread
    stream = await kit.stt.open(sample_rate=16_000)
    first, second = piper_claims[0], piper_claims[1]  # "Hi, my name is ..." / "My policy number ..."
    await push_all(stream, [SILENCE] * 10 + frames(first) + [SILENCE] * 10)
    assert stream._speculation is not None
    await push_all(stream, frames(second) + [SILENCE] * 15)
    await stream.end_of_speech()
    final = await anext(stream.results())
    await stream.close()
    assert stream.speculations["discarded"] >= 1
    assert word_error_rate([f"{CLAIMS[0]} {CLAIMS[1]}"], [final.text]) <= 0.1


async def test_each_end_of_speech_gets_one_final_in_order(kit: Kit, piper_claims: list[bytes]) -> None:
    """Three utterances pushed faster than real time: three finals, in order, which joined (as
    the engine joins a turn's finals) say the three sentences; utterances still queued when
    the next one ends are merged into it (the earlier final is then empty)."""
    stream = await kit.stt.open(sample_rate=16_000)
    for clip in piper_claims[2:5]:
        await push_all(stream, [SILENCE] * 10 + frames(clip) + [SILENCE] * 12)
        await stream.end_of_speech()
    finals = [await anext(stream.results()) for _ in range(3)]
    await stream.close()
    assert all(f.is_final for f in finals) and finals[-1].text
    assert word_error_rate([" ".join(CLAIMS[2:5])], [" ".join(f.text for f in finals)]) <= 0.1
    said = [f for f in finals if f.text]
    assert [f.start_ms for f in said] == sorted(f.start_ms for f in said)  # type: ignore[type-var]
    assert all(f.end_ms > f.start_ms for f in said)  # type: ignore[operator]


async def test_a_busy_pool_transcribes_two_queued_utterances_as_one(piper_claims: list[bytes]) -> None:
    """One thread, held by another job: the first utterance is still queued when the second
    ends, so they are done as one; the engine still gets one final per end_of_speech."""
    registry = CollectorRegistry()
    pool = InferencePool("stt", 1, PoolMetrics(registry))
    stt = WhisperSTT(STTConfig(workers=1), pool, WhisperEngine(STTConfig(workers=1), _bundled()))
    release = threading.Event()
    blocker = pool.submit(release.wait)
    stream = await stt.open(sample_rate=16_000)
    await push_all(stream, frames(piper_claims[5]) + [SILENCE] * 12)
    await stream.end_of_speech()
    await push_all(stream, frames(piper_claims[6]) + [SILENCE] * 12)
    await stream.end_of_speech()
    assert registry.get_sample_value("artagent_local_speech_queue_depth", {"pool": "stt"}) == 1
    release.set()
    first, second = [await anext(stream.results()) for _ in range(2)]
    await stream.close()
    assert blocker.done()
    assert first.text == ""
    assert word_error_rate([f"{CLAIMS[5]} {CLAIMS[6]}"], [second.text]) <= 0.1
    pool.close()


def _bundled() -> str:
    from artagent_local_speech.models import bundled_whisper

    return str(bundled_whisper())


async def test_audio_at_8_khz_is_resampled(kit: Kit, piper_claims: list[bytes]) -> None:
    """Telephone-band audio in, words out (tiny.en hears narrowband speech a little worse)."""
    said = []
    for index in (5, 6, 26):
        telephone = resample(piper_claims[index], 16_000, 8_000)
        stream = await kit.stt.open(sample_rate=8_000)
        pieces = [telephone[i : i + 320] for i in range(0, len(telephone), 320)]
        await push_all(stream, [bytes(320)] * 10 + pieces + [bytes(320)] * 15)
        await stream.end_of_speech()
        said.append((await anext(stream.results())).text)
        await stream.close()
    assert word_error_rate([CLAIMS[i] for i in (5, 6, 26)], said) <= 0.15, said


async def test_silence_gives_an_empty_final_and_close_ends_the_results(kit: Kit) -> None:
    stream = await kit.stt.open(sample_rate=16_000)
    await push_all(stream, [SILENCE] * 50)
    await stream.end_of_speech()
    final = await anext(stream.results())
    assert final.is_final and final.text == ""
    await stream.close()
    assert [t async for t in stream.results()] == []
    with pytest.raises(RuntimeError):
        await stream.push(SILENCE)


async def test_the_pool_reports_waits_and_runs(kit: Kit, piper_claims: list[bytes]) -> None:
    await recognise(kit.stt, piper_claims[26])
    sample = kit.registry.get_sample_value
    assert sample("artagent_local_speech_workers", {"pool": "stt"}) == 2
    assert sample("artagent_local_speech_queue_wait_seconds_count", {"pool": "stt"}) >= 1  # type: ignore[operator]
    assert sample("artagent_local_speech_inference_seconds_count", {"pool": "vad"}) >= 1  # type: ignore[operator]
    assert sample("artagent_local_speech_queue_depth", {"pool": "stt"}) == 0


def test_a_decoder_loop_is_recognised() -> None:
    from artagent_local_speech.whisper import looks_wrong

    assert looks_wrong("I was driving my Toyota Camry. I was driving my Toyota Camry.")
    assert looks_wrong("yes " * 40)
    assert looks_wrong("Good morning, good morning.")
    assert looks_wrong("Thank you. Thank you. Thank you.")
    assert not looks_wrong("No, no.")  # one word twice is how people say it
    assert not looks_wrong("Good morning.")
    assert not looks_wrong("My policy number is 4 7 2 9 1 8 3 6.")
    assert not looks_wrong(" ".join(np.array(CLAIMS[:3])))
