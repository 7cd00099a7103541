"""Call-to-worker routing in a real Redis: calls recorded with a TTL, claimed once, requests
queued before the claim and forwarded after it, none lost while the owner is busy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from artagent.bus.redis import EmbeddedRedis
from artagent_acs.routing import (
    CallRecord,
    CallRouter,
    Forwarded,
    ForwardedCallbacks,
    ForwardedHangup,
    WorkerInbox,
)
from artagent_acs.webhooks import CallbackEvent
from redis.asyncio import Redis


@pytest.fixture
async def redis(embedded_redis: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(embedded_redis.url)
    yield client
    await client.aclose()


def callbacks(call_id: str, *names: str) -> ForwardedCallbacks:
    events = [CallbackEvent(type=f"Microsoft.Communication.{name}") for name in names]
    return ForwardedCallbacks(call_id=call_id, events=events)


async def test_a_call_is_recorded_claimed_once_and_forgotten(redis: Redis) -> None:
    router = CallRouter(redis, unclaimed_ttl_s=60, claimed_ttl_s=7200)
    record = CallRecord(call_id="acs-1", direction="inbound", caller="+15550100001", callee="+18005550100")
    await router.record(record)
    assert 0 < await redis.pttl(router.key("acs-1")) <= 60_000
    assert await router.update(CallRecord(call_id="acs-1", direction="inbound", connection_id="conn-1"))
    assert not await router.update(CallRecord(call_id="acs-2", direction="inbound"))
    assert not await redis.exists(router.key("acs-2")), "an update never brings a call back"
    # Before anyone hosts it, callbacks wait for the claim (in order); a hang-up is not queued.
    assert (await router.forward(callbacks("acs-1", "CallConnected"))).outcome == "pending"
    assert (await router.forward(callbacks("acs-1", "ParticipantsUpdated"))).outcome == "pending"
    unowned = await router.forward(ForwardedHangup(call_id="acs-1"), queue_unclaimed=False)
    assert unowned.outcome == "unowned" and unowned.record is not None
    assert unowned.record.connection_id == "conn-1"
    claim = await router.claim("acs-1", "worker-b")
    assert claim.record is not None and claim.record.connection_id == "conn-1"
    assert [m.events[0].name for m in claim.pending if isinstance(m, ForwardedCallbacks)] == [
        "CallConnected",
        "ParticipantsUpdated",
    ]
    assert await redis.pttl(router.key("acs-1")) > 60_000, "a hosted call lives as long as its tokens"
    again = await router.claim("acs-1", "worker-c")
    assert again.record is None and again.owner == "worker-b"
    assert await router.owner("acs-1") == "worker-b"
    routed = await router.forward(ForwardedHangup(call_id="acs-1"))
    assert (routed.outcome, routed.worker) == ("owned", "worker-b")
    assert await redis.xlen(router.inbox_key("worker-b")) == 1
    await router.forget("acs-1")
    assert (await router.forward(callbacks("acs-1", "CallDisconnected"))).outcome == "unknown"
    assert (await router.claim("acs-1", "worker-b")).record is None
    assert (await router.claim("acs-unknown", "worker-b")).owner is None


async def test_nothing_sent_to_a_busy_owner_is_lost(redis: Redis) -> None:
    router = CallRouter(redis, unclaimed_ttl_s=60, claimed_ttl_s=600)
    received: list[Forwarded] = []
    busy = asyncio.Event()

    async def handle(message: Forwarded) -> None:
        if not received:
            busy.set()
            await asyncio.sleep(0.5)  # the owner is busy with the first one
        received.append(message)

    inbox = WorkerInbox(redis, handle, block_ms=200)
    await router.record(CallRecord(call_id="acs-9", direction="simulated"))
    await inbox.hold("worker-b")
    await router.claim("acs-9", "worker-b")
    sent = [callbacks("acs-9", f"Event{n}") for n in range(30)]
    await router.forward(sent[0])
    await asyncio.wait_for(busy.wait(), 5)
    for message in sent[1:]:
        assert (await router.forward(message)).outcome == "owned"
    for _ in range(100):
        if len(received) == len(sent):
            break
        await asyncio.sleep(0.05)
    assert received == sent, "every message, once, in order"
    # Once the worker hosts no call it stops reading; what came meanwhile is for calls gone.
    await inbox.release()
    await asyncio.wait_for(inbox.stopped(), 5)
    await router.forward(callbacks("acs-9", "Late"))
    await inbox.hold("worker-b")  # a new call: reading starts after what is already there
    await router.record(CallRecord(call_id="acs-10", direction="simulated"))
    await router.claim("acs-10", "worker-b")
    await router.forward(ForwardedHangup(call_id="acs-10"))
    for _ in range(100):
        if len(received) > len(sent):
            break
        await asyncio.sleep(0.05)
    await inbox.release()
    await asyncio.wait_for(inbox.stopped(), 5)
    assert received[len(sent) :] == [ForwardedHangup(call_id="acs-10")]
