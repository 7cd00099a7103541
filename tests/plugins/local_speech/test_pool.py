"""The inference pool: bounded threads, jobs handed back to the event loop, cancellation, metrics."""

from __future__ import annotations

import asyncio
import threading

import pytest
from artagent_local_speech.pool import InferencePool, PoolMetrics
from prometheus_client import CollectorRegistry


def _depth(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("artagent_local_speech_queue_depth", {"pool": "vad"})


async def test_many_awaited_jobs_all_come_back_each_with_its_own_result_or_error() -> None:
    pool = InferencePool("vad", 2)
    threads: set[str] = set()

    def square(n: int) -> int:
        threads.add(threading.current_thread().name)
        if n == 13:
            raise ValueError("thirteen")
        return n * n

    results = await asyncio.gather(*(pool.run(square, n) for n in range(200)), return_exceptions=True)
    assert [r for n, r in enumerate(results) if n != 13] == [n * n for n in range(200) if n != 13]
    assert isinstance(results[13], ValueError) and str(results[13]) == "thirteen"
    assert 1 <= len(threads) <= 2 and all(name.startswith("speech-vad") for name in threads)
    assert threading.current_thread().name not in threads  # never on the event loop's thread
    pool.close()


async def test_a_cancelled_await_drops_its_waiting_job_and_leaves_the_queue() -> None:
    registry = CollectorRegistry()
    pool = InferencePool("vad", 1, PoolMetrics(registry))
    release, ran = threading.Event(), []
    blocker = asyncio.ensure_future(pool.run(release.wait))
    waiting = asyncio.ensure_future(pool.run(ran.append, "late"))
    await asyncio.sleep(0.05)
    assert _depth(registry) == 1
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert _depth(registry) == 0
    release.set()
    assert await blocker is True
    assert await pool.run(len, "abc") == 3
    assert ran == []  # the cancelled job never ran
    pool.close()
    with pytest.raises(RuntimeError):  # closed
        await pool.run(len, "abc")
