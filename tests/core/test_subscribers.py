"""Bus subscribers: consumer groups that hand decoded events to handlers, at least once, each once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from _bus import STREAM, Collector, consumers, pending_count, wait_until
from artagent.bus.outbox import Outbox
from artagent.bus.redis import EmbeddedRedis, async_client
from artagent.bus.subscribers import BusConsumers, Subscription
from artagent.events import (
    AgentResponseGenerated,
    CallEnded,
    CallStarted,
    Event,
    EventCatalogue,
    ToolCalled,
    TranscriptionReceived,
    TurnLatency,
)
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

CATALOGUE = EventCatalogue()


@pytest.fixture
async def redis(embedded_redis: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = async_client(embedded_redis.url)
    yield client
    await client.aclose()


@pytest.fixture
async def outbox(redis: Redis, data_dir: Path) -> AsyncIterator[Outbox]:
    box = Outbox(
        redis, CATALOGUE, stream=STREAM, spill_path=data_dir / "spill.sqlite3", registry=CollectorRegistry()
    )
    await box.start()
    yield box
    await box.close()


@asynccontextmanager
async def running(bus: BusConsumers) -> AsyncIterator[BusConsumers]:
    await bus.start()
    try:
        yield bus
    finally:
        await bus.stop()


async def publish(outbox: Outbox, *events: Event) -> None:
    for event in events:
        outbox.publish(event)
    assert await outbox.flush(timeout=10)


def metric(registry: CollectorRegistry, name: str, group: str) -> float:
    return registry.get_sample_value(name, {"group": group}) or 0.0


async def test_a_batch_handler_receives_decoded_event_structs(
    embedded_redis: EmbeddedRedis, redis: Redis, outbox: Outbox
) -> None:
    handler = Collector()
    bus = consumers(embedded_redis, redis, CATALOGUE, [Subscription(group="decoded", handler=handler)])
    async with running(bus):
        call = outbox.for_call("call-1")
        published = [
            call.emit(CallStarted, channel="browser", scenario="insurance"),
            call.emit(AgentResponseGenerated, agent="claims", text="Hi", latency=TurnLatency(total_ms=640.0)),
            call.emit(ToolCalled, tool="file_claim", arguments={"policy": "P-1", "amount": 1200}),
        ]
        assert await outbox.flush()
        await wait_until(lambda: len(handler.events) == 3, what="three events")
    assert handler.events == published  # every field survives the round trip, types included
    assert [type(e) for e in handler.events] == [CallStarted, AgentResponseGenerated, ToolCalled]
    response = handler.events[1]
    assert isinstance(response, AgentResponseGenerated)
    assert response.latency == TurnLatency(total_ms=640.0)
    assert all(isinstance(batch, list) for batch in handler.batches)


async def test_after_a_short_batch_a_subscriber_lingers_so_the_next_events_come_as_one_batch(
    embedded_redis: EmbeddedRedis, redis: Redis, outbox: Outbox
) -> None:
    handler = Collector()
    sub = Subscription(group="lingering", handler=handler)
    bus = consumers(embedded_redis, redis, CATALOGUE, [sub], linger_ms=1000)
    async with running(bus):
        call = outbox.for_call("call-linger")
        await publish(outbox, call.emit(CallStarted, channel="browser"))
        await wait_until(lambda: handler.batches, what="the first batch")
        for i in range(5):  # one at a time, as a call's events come
            await publish(outbox, call.emit(TranscriptionReceived, text=f"part {i}"))
            await asyncio.sleep(0.02)
        await wait_until(lambda: len(handler.events) == 6, what="the five later events")
    assert [len(batch) for batch in handler.batches] == [1, 5]


async def test_a_failing_handler_leaves_entries_pending_until_autoclaim_redelivers_them(
    embedded_redis: EmbeddedRedis, redis: Redis, outbox: Outbox
) -> None:
    handler = Collector()
    handler.failures_left = 1_000
    bus = consumers(
        embedded_redis, redis, CATALOGUE, [Subscription(group="flaky", handler=handler)], claim_idle_ms=200
    )
    async with running(bus):
        call = outbox.for_call("call-retry")
        published = [call.emit(TranscriptionReceived, text=f"part {i}") for i in range(5)]
        assert await outbox.flush()
        await wait_until(lambda: handler.calls >= 1, what="the first (failing) delivery")
        # Not acknowledged: all five stay pending in the group.
        assert await pending_count(redis, "flaky") == 5

        async def redelivered() -> bool:
            rows = await redis.xpending_range(STREAM, "flaky", min="-", max="+", count=10)
            return any(row["times_delivered"] >= 2 for row in rows)

        await wait_until(redelivered, within=10, what="XAUTOCLAIM to redeliver an idle entry")
        assert handler.events == []
        handler.failures_left = 0
        await wait_until(lambda: len(handler.events) == 5, within=15, what="the retried events")
        await wait_until(lambda: _zero(pending_count(redis, "flaky")), what="the entries to be acknowledged")
    assert sorted(handler.ids()) == sorted(e.event_id for e in published)


async def _zero(count: object) -> bool:
    return await count == 0  # type: ignore[misc]


async def test_entries_a_crashed_consumer_left_pending_are_reclaimed_by_a_live_one(
    embedded_redis: EmbeddedRedis, redis: Redis, outbox: Outbox
) -> None:
    await redis.xgroup_create(STREAM, "history", id="0", mkstream=True)
    call = outbox.for_call("call-orphan")
    published = [call.emit(TranscriptionReceived, text=f"{i}") for i in range(4)]
    assert await outbox.flush()
    # A worker reads the entries, then dies before acknowledging them.
    taken = await redis.xreadgroup("history", "crashed-worker", {STREAM: ">"}, count=100)
    assert len(taken[0][1]) == 4
    summary = await redis.xpending(STREAM, "history")
    assert [(c["name"], c["pending"]) for c in summary["consumers"]] == [(b"crashed-worker", 4)]

    handler = Collector()
    sub = Subscription(group="history", handler=handler)
    bus = consumers(embedded_redis, redis, CATALOGUE, [sub], consumer="live-worker", claim_idle_ms=200)
    async with running(bus):
        await wait_until(lambda: len(handler.events) == 4, within=15, what="the orphaned entries")
        await wait_until(
            lambda: _zero(pending_count(redis, "history")), what="the entries to be acknowledged"
        )
    assert handler.ids() == [e.event_id for e in published]
    assert (await redis.xpending(STREAM, "history"))["consumers"] == []


async def test_a_worker_restarted_under_its_name_first_finishes_what_it_was_given(
    embedded_redis: EmbeddedRedis, redis: Redis, outbox: Outbox
) -> None:
    await redis.xgroup_create(STREAM, "ordered", id="0", mkstream=True)
    call = outbox.for_call("call-resumed")
    before = [call.emit(TranscriptionReceived, text=f"{i}") for i in range(3)]
    assert await outbox.flush()
    # The worker read these, then died (or lost the reply) before acknowledging them.
    await redis.xreadgroup("ordered", "worker-7", {STREAM: ">"}, count=100)

    handler = Collector()
    sub = Subscription(group="ordered", handler=handler)
    async with running(consumers(embedded_redis, redis, CATALOGUE, [sub], consumer="worker-7")):
        after = [call.emit(TranscriptionReceived, text=f"{i}") for i in range(3, 6)]
        assert await outbox.flush()
        await wait_until(lambda: len(handler.events) == 6, what="all six events")
        await wait_until(lambda: _zero(pending_count(redis, "ordered")), what="acknowledgement")
    # Well before claim_idle_ms (30 s), and in the call's order.
    assert handler.ids() == [e.event_id for e in before + after]


async def test_the_same_event_published_twice_reaches_each_group_once(
    embedded_redis: EmbeddedRedis, redis: Redis, outbox: Outbox
) -> None:
    registry = CollectorRegistry()
    first, second = Collector(), Collector()
    subs = [Subscription(group="first", handler=first), Subscription(group="second", handler=second)]
    e1 = CallStarted(call_id="call-dup", seq=1, channel="acs")
    e2 = TranscriptionReceived(call_id="call-dup", seq=2, text="hello")
    async with running(consumers(embedded_redis, redis, CATALOGUE, subs, registry=registry)):
        await publish(outbox, e1, e1)  # on the wire twice
        await wait_until(lambda: first.ids() and second.ids(), what="e1 in both groups")
        await publish(outbox, e1, e2)  # replayed again after an ambiguous failure, then e2
        await wait_until(lambda: len(first.events) >= 2 and len(second.events) >= 2, what="e2")
    assert await redis.xlen(STREAM) == 4
    assert first.ids() == second.ids() == [e1.event_id, e2.event_id]
    assert metric(registry, "artagent_bus_duplicates_dropped_total", "first") == 2

    # The group's memory of handled ids is in Redis: a restarted worker still drops the replay.
    again = Collector()
    sub = Subscription(group="first", handler=again)
    async with running(consumers(embedded_redis, redis, CATALOGUE, [sub], consumer="worker-restarted")):
        e3 = CallEnded(call_id="call-dup", seq=3, reason="hangup")
        await publish(outbox, e1, e3)
        await wait_until(lambda: again.ids(), what="e3")
        await wait_until(lambda: _zero(pending_count(redis, "first")), what="acknowledgement")
    assert again.ids() == [e3.event_id]


async def test_types_limit_what_the_handler_is_given_and_the_rest_is_acknowledged(
    embedded_redis: EmbeddedRedis, redis: Redis, outbox: Outbox
) -> None:
    handler = Collector()
    sub = Subscription(group="lifecycle", handler=handler, types=frozenset({"call_started", "call_ended"}))
    async with running(consumers(embedded_redis, redis, CATALOGUE, [sub])):
        call = outbox.for_call("call-types")
        started = call.emit(CallStarted, channel="browser")
        for i in range(3):
            call.emit(TranscriptionReceived, text=f"{i}")
        ended = call.emit(CallEnded, reason="hangup")
        assert await outbox.flush()
        await wait_until(lambda: len(handler.events) == 2, what="the two lifecycle events")
        await wait_until(lambda: _zero(pending_count(redis, "lifecycle")), what="everything acknowledged")
    assert handler.events == [started, ended]


async def test_an_entry_no_event_type_decodes_is_skipped_and_counted(
    embedded_redis: EmbeddedRedis, redis: Redis, outbox: Outbox
) -> None:
    registry = CollectorRegistry()
    handler = Collector()
    sub = Subscription(group="strict", handler=handler)
    async with running(consumers(embedded_redis, redis, CATALOGUE, [sub], registry=registry)):
        bad = [
            {"v": "1", "type": "call_started"},  # no event field
            {"v": "1", "event": "not json at all"},
            {"v": "1", "event": json.dumps({"type": "no_such_event", "call_id": "c"})},
            {"v": "1", "event": json.dumps({"type": "call_started", "seq": 1})},  # call_id missing
        ]
        for fields in bad:
            await redis.xadd(STREAM, fields)  # type: ignore[arg-type]
        good = outbox.for_call("call-ok").emit(CallStarted, channel="acs")
        assert await outbox.flush()
        await wait_until(lambda: handler.events, what="the valid event")
        await wait_until(
            lambda: _zero(pending_count(redis, "strict")), what="the bad entries to be acknowledged"
        )
        assert handler.events == [good]
        assert metric(registry, "artagent_bus_undecodable_total", "strict") == 4
        later = outbox.for_call("call-ok").emit(CallEnded, reason="done")
        assert await outbox.flush()
        await wait_until(lambda: len(handler.events) == 2, what="the consumer to keep going")
    assert handler.events == [good, later]


async def test_start_at_oldest_replays_history_and_new_does_not(
    embedded_redis: EmbeddedRedis, redis: Redis, outbox: Outbox
) -> None:
    call = outbox.for_call("call-history")
    history = [call.emit(TranscriptionReceived, text=f"{i}") for i in range(3)]
    assert await outbox.flush()
    oldest, new = Collector(), Collector()
    subs = [
        Subscription(group="replay", handler=oldest, start_at="oldest"),
        Subscription(group="live", handler=new, start_at="new"),
    ]
    async with running(consumers(embedded_redis, redis, CATALOGUE, subs)):
        marker = call.emit(CallEnded, reason="hangup")
        assert await outbox.flush()
        await wait_until(lambda: len(oldest.events) == 4 and new.events, what="the marker in both groups")
    assert oldest.ids() == [e.event_id for e in [*history, marker]]
    assert new.ids() == [marker.event_id]
