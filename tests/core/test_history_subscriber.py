"""The history subscriber on a real embedded Redis: events published through the real outbox are
folded into the SQLite store, each once, and acknowledged only once the store has them."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from _bus import STREAM, consumers, pending_count, wait_until
from _history_kit import insurance_call, short_call
from artagent.bus.outbox import Outbox
from artagent.bus.redis import EmbeddedRedis, async_client
from artagent.bus.subscribers import BusConsumers
from artagent.config import HistoryConfig
from artagent.events import Event, EventCatalogue
from artagent.history import CallDocument, CallHistory, StoreRegistry, StoreSpec, fold_events
from artagent.history.sqlite import SqliteHistoryStore
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

CATALOGUE = EventCatalogue()


class FlakyStore(SqliteHistoryStore):
    """The SQLite store, failing its first ``failures`` writes (a locked disk, a full volume)."""

    failures = 0

    async def apply(self, events: Sequence[Event]) -> list[CallDocument]:
        if self.failures:
            self.failures -= 1
            raise OSError("disk full (on purpose)")
        return await super().apply(events)


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


def history(data_dir: Path, store_type: type[SqliteHistoryStore] = SqliteHistoryStore) -> CallHistory:
    registry = StoreRegistry()
    registry.add(StoreSpec("sqlite", lambda ctx: store_type(ctx.data_dir / "history.sqlite3")), owner="test")
    return CallHistory(HistoryConfig(), registry, data_dir=data_dir, metrics=CollectorRegistry())


async def publish(outbox: Outbox, events: list[Event]) -> None:
    for event in events:
        outbox.publish(event)
    assert await outbox.flush()


async def settled(redis: Redis, group: str = "history") -> bool:
    """Everything in the stream delivered to the group and acknowledged."""
    info = {g["name"].decode(): g for g in await redis.xinfo_groups(STREAM)}
    last = (await redis.xinfo_stream(STREAM))["last-generated-id"]
    return await pending_count(redis, group) == 0 and info[group]["last-delivered-id"] == last


async def test_a_call_published_through_the_outbox_is_folded_into_its_document(
    embedded_redis: EmbeddedRedis, redis: Redis, outbox: Outbox, data_dir: Path
) -> None:
    events = insurance_call()
    calls = history(data_dir)
    await calls.start(purge=False)
    try:
        async with _running(consumers(embedded_redis, redis, CATALOGUE, [calls.subscription()])):
            await publish(outbox, events[:8])
            doc = await wait_until(lambda: calls.get("call-42"), what="the call's first events")
            await publish(outbox, events[8:])
            await wait_until(lambda: _ended(calls), what="the call's end")
        doc = await calls.get("call-42")
        expected, _ = fold_events(None, "call-42", events)
        assert doc == expected
    finally:
        await calls.stop()


async def test_redelivered_events_never_duplicate_a_turn(
    embedded_redis: EmbeddedRedis, redis: Redis, outbox: Outbox, data_dir: Path
) -> None:
    events = insurance_call()
    calls = history(data_dir)
    await calls.start(purge=False)
    try:
        async with _running(consumers(embedded_redis, redis, CATALOGUE, [calls.subscription()])):
            await publish(outbox, events)
            await wait_until(lambda: _ended(calls), what="the call to be folded")
            first = await calls.get("call-42")
            # The bus forgets what the group handled (its dedup window passed, or a worker died
            # between the store's write and the bus's record) and the same events come again.
            await redis.delete(*[key async for key in redis.scan_iter("artagent:dedup:history:*")])
            await publish(outbox, events)
            await publish(outbox, events[4:9])
            await wait_until(lambda: settled(redis), what="the replay to be acknowledged")
        again = await calls.get("call-42")
        assert again == first and again is not None
        assert len(again.transcript) == 7 and len(again.tool_calls) == 1 and again.event_count == 15
    finally:
        await calls.stop()


async def test_events_stay_pending_until_the_store_has_them(
    embedded_redis: EmbeddedRedis, redis: Redis, outbox: Outbox, data_dir: Path
) -> None:
    calls = history(data_dir, FlakyStore)
    assert isinstance(calls.store, FlakyStore)
    calls.store.failures = 3
    await calls.start(purge=False)
    try:
        bus = consumers(embedded_redis, redis, CATALOGUE, [calls.subscription()], claim_idle_ms=300)
        async with _running(bus):
            await publish(outbox, insurance_call())
            await wait_until(lambda: _pending_at_least(redis, 15), what="the failed batch left pending")
            assert await calls.get("call-42") is None
            await wait_until(lambda: _ended(calls), within=20, what="redelivery once the store recovers")
            await wait_until(lambda: settled(redis), what="acknowledgement after the write")
        doc = await calls.get("call-42")
        assert doc is not None and doc.event_count == 15 and calls.store.failures == 0
    finally:
        await calls.stop()


async def _ended(calls: CallHistory) -> bool:
    doc = await calls.get("call-42")
    return doc is not None and doc.status == "ended"


async def _pending_at_least(redis: Redis, n: int) -> bool:
    return await pending_count(redis, "history") >= n


@asynccontextmanager
async def _running(bus: BusConsumers) -> AsyncIterator[BusConsumers]:
    await bus.start()
    try:
        yield bus
    finally:
        await bus.stop()


async def test_the_retention_pass_runs_at_start_and_deletes_calls_past_the_retention(data_dir: Path) -> None:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    registry = StoreRegistry()
    registry.add(
        StoreSpec("sqlite", lambda ctx: SqliteHistoryStore(ctx.data_dir / "h.sqlite3")), owner="test"
    )
    config = HistoryConfig(retention_days=30, purge_interval_s=0.05)
    calls = CallHistory(config, registry, data_dir=data_dir, metrics=CollectorRegistry(), clock=lambda: now)
    assert calls.store is not None
    await calls.store.start()
    await calls.store.apply(short_call("old", now - dt.timedelta(days=31)))
    await calls.store.apply(short_call("recent", now - dt.timedelta(days=29)))
    await calls.start()  # the periodic pass runs once straight away
    try:
        await wait_until(lambda: _gone(calls, "old"), what="the expired call to be deleted")
        assert await calls.get("recent") is not None
        await calls.store.apply(short_call("older", now - dt.timedelta(days=90)))
        await wait_until(lambda: _gone(calls, "older"), what="the next pass")
    finally:
        await calls.stop()


async def _gone(calls: CallHistory, call_id: str) -> bool:
    return await calls.get(call_id) is None
