"""The active-call registry and its drain."""

from __future__ import annotations

import asyncio

import pytest
from artagent.calls import ActiveCalls, DrainingError


async def test_drain_waits_for_calls_that_finish_in_time() -> None:
    calls = ActiveCalls()
    ended: list[str] = []

    async def short_call() -> None:
        async with calls.carrying("c1", lambda reason: _append(ended, reason)):
            await asyncio.sleep(0.05)

    task = asyncio.create_task(short_call())
    await asyncio.sleep(0)
    assert len(calls) == 1
    assert await calls.drain(deadline_s=5) == 0
    assert ended == [] and len(calls) == 0
    await task


async def test_drain_ends_calls_still_active_at_the_deadline_politely() -> None:
    calls = ActiveCalls()
    reasons: list[str] = []
    hung_up = asyncio.Event()

    async def end(reason: str) -> None:
        reasons.append(reason)
        hung_up.set()

    async def long_call() -> None:
        async with calls.carrying("c2", end):
            await hung_up.wait()  # the call goes on until it is ended

    task = asyncio.create_task(long_call())
    await asyncio.sleep(0)
    assert await calls.drain(deadline_s=0.05) == 1
    assert reasons == ["worker_shutdown"]
    await task
    assert len(calls) == 0


async def test_no_new_calls_while_draining() -> None:
    calls = ActiveCalls()
    await calls.drain(deadline_s=0)
    with pytest.raises(DrainingError, match="takes no new calls"):
        calls.admit("late", _noop)


async def test_a_call_id_is_admitted_once() -> None:
    calls = ActiveCalls()
    calls.admit("dup", _noop)
    with pytest.raises(ValueError, match="already active"):
        calls.admit("dup", _noop)


async def _append(items: list[str], item: str) -> None:
    items.append(item)


async def _noop(reason: str) -> None:
    return None
