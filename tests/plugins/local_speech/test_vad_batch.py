"""Silero across calls: the windows that several calls submit together run through the model
as one batch, and every call still gets exactly the answers it would get alone."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from _speechkit import Kit, frames
from artagent_local_speech.pool import InferencePool
from artagent_local_speech.vad import SileroVAD

RATE = 16_000
CALLS = 6


def _jobs(kit: Kit) -> float:
    value = kit.registry.get_sample_value("artagent_local_speech_inference_seconds_count", {"pool": "vad"})
    return value or 0.0


def _lines(piper_claims: list[bytes]) -> list[list[bytes]]:
    """Six different callers: each a claims sentence after its own length of quiet line, so
    their windows start at different places and some calls are quiet while others speak (and
    start with a primed run of several windows)."""
    rng = np.random.default_rng(11)
    lines = []
    for i in range(CALLS):
        quiet = rng.normal(0, 32768 * 10 ** (-65 / 20), 160 * (7 + 9 * i)).astype("<i2").tobytes()
        lines.append(frames(quiet + piper_claims[i % len(piper_claims)])[:120])
    return lines


async def test_calls_speaking_at_once_share_one_run_and_get_their_own_answers(
    kit: Kit, piper_claims: list[bytes]
) -> None:
    lines = _lines(piper_claims)
    vad = SileroVAD(kit.vad.pool, gate_dbfs=-55.0, batch_ms=0.0)

    alone = []  # each call by itself: one run per window (or primed windows) it hears
    alone_before = _jobs(kit)
    for line in lines:
        stream = vad.open(sample_rate=RATE)
        alone.append([await stream.speech_probability(frame) for frame in line])

    alone_runs = _jobs(kit) - alone_before
    streams = [vad.open(sample_rate=RATE) for _ in lines]
    together: list[list[float]] = [[] for _ in lines]
    before, steps_with_a_window = _jobs(kit), 0
    for step in range(len(lines[0])):
        jobs = _jobs(kit)
        answers = await asyncio.gather(
            *(stream.speech_probability(line[step]) for stream, line in zip(streams, lines, strict=True))
        )
        for i, answer in enumerate(answers):
            together[i].append(answer)
        steps_with_a_window += _jobs(kit) > jobs
    runs = _jobs(kit) - before

    for i in range(CALLS):
        assert np.allclose(together[i], alone[i], atol=1e-4), (i, together[i], alone[i])
    assert max(max(line) for line in together) > 0.9  # the sentences were heard as speech
    # every step that ran the model ran it once for all six calls
    assert runs == steps_with_a_window
    assert runs < alone_runs / 3


async def test_a_window_waits_for_the_other_calls_windows_up_to_the_linger(
    kit: Kit, piper_claims: list[bytes]
) -> None:
    vad = SileroVAD(kit.vad.pool, batch_ms=20.0)
    loud = frames(piper_claims[0])[10:12]  # 20 ms each: the second completes a 32 ms window
    first, second = vad.open(sample_rate=RATE), vad.open(sample_rate=RATE)
    assert await first.speech_probability(loud[0]) == 0.0  # no window yet: answered at once
    before = _jobs(kit)
    loop = asyncio.get_running_loop()

    async def timed() -> float:
        started = loop.time()
        await first.speech_probability(loud[1])
        return loop.time() - started

    async def two_ms_later() -> None:
        await asyncio.sleep(0.002)
        for frame in loud:
            await second.speech_probability(frame)

    waited, _ = await asyncio.gather(timed(), two_ms_later())
    assert _jobs(kit) - before == 1  # one window each, submitted 2 ms apart: one run
    assert waited >= 0.019


async def test_a_stopped_pool_fails_the_waiting_calls_instead_of_leaving_them_waiting() -> None:
    pool = InferencePool("vad-stopped", 1)
    vad = SileroVAD(pool, batch_ms=1.0)
    pool.close()
    stream = vad.open(sample_rate=RATE)
    loud = (np.sin(np.arange(640) / 3) * 8000).astype("<i2").tobytes()
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(stream.speech_probability(loud), timeout=5)
