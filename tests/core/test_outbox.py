"""The outbox: publishing never waits on Redis, and no event is lost or reordered when Redis goes away."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from _bus import STREAM, Collector, assert_per_call_order, pending_count, spill_rows, wait_until
from artagent.bus.outbox import Outbox
from artagent.bus.redis import EmbeddedRedis, async_client
from artagent.bus.subscribers import Subscription
from artagent.config import LoadedConfig
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
from artagent.runtime import Runtime
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis


def _outbox(redis: Redis, spill: Path, registry: CollectorRegistry | None = None, **kw: Any) -> Outbox:
    return Outbox(
        redis, EventCatalogue(), stream=STREAM, spill_path=spill, retry_max_s=0.1,
        registry=registry or CollectorRegistry(), **kw,
    )  # fmt: skip


@pytest.fixture
async def redis(embedded_redis: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = async_client(embedded_redis.url)
    yield client
    await client.aclose()


async def _stream_events(redis: Redis) -> list[dict[str, object]]:
    return [json.loads(fields[b"event"]) for _, fields in await redis.xrange(STREAM)]


async def test_publish_returns_at_once_and_never_raises_while_redis_is_down(data_dir: Path) -> None:
    dead = async_client(f"unix://{data_dir}/nobody-listens.sock")
    registry = CollectorRegistry()
    outbox = _outbox(dead, data_dir / "spill.sqlite3", registry)
    await outbox.start()
    call = outbox.for_call("call-offline")
    started = time.monotonic()
    for i in range(2_000):
        call.emit(TranscriptionReceived, text=f"words {i}")
    elapsed = time.monotonic() - started
    # Nothing awaited Redis (the publisher has not even had a turn): publishing is queueing.
    assert outbox.depth == 2_000 and spill_rows(outbox.spill.path) == 0
    assert elapsed < 1.0
    await wait_until(lambda: spill_rows(outbox.spill.path) == 2_000, what="every event in the spill file")
    assert outbox.connected is False
    assert outbox.depth == 2_000
    assert registry.get_sample_value("artagent_bus_connected") == 0
    assert registry.get_sample_value("artagent_outbox_spilled_total") == 2_000
    await outbox.close()
    await dead.aclose()


async def test_events_reach_the_stream_as_documented_entries_in_publish_order(
    data_dir: Path, redis: Redis
) -> None:
    outbox = _outbox(redis, data_dir / "spill.sqlite3")
    await outbox.start()
    a, b = outbox.for_call("call-a"), outbox.for_call("call-b")
    published: list[Event] = [
        a.emit(CallStarted, channel="browser", scenario="banking"),
        b.emit(CallStarted, channel="acs", caller="+15551230000"),
        a.emit(TranscriptionReceived, text="I lost my card"),
        a.emit(AgentResponseGenerated, agent="auth", text="Let me help", latency=TurnLatency(total_ms=512.5)),
        b.emit(ToolCalled, tool="lookup", arguments={"account": "42"}),
        a.emit(CallEnded, reason="hangup", duration_ms=9000, outcome="resolved"),
    ]
    assert await outbox.flush(timeout=10)
    entries = await redis.xrange(STREAM)
    assert len(entries) == len(published)
    for (_, fields), event in zip(entries, published, strict=True):
        assert set(fields) == {b"v", b"type", b"call_id", b"event_id", b"event"}
        assert fields[b"v"] == b"1"
        assert fields[b"type"].decode() == event.type_tag()
        assert fields[b"call_id"].decode() == event.call_id
        assert fields[b"event_id"].decode() == event.event_id
        body = json.loads(fields[b"event"])  # plain JSON, no msgspec needed to read it
        assert body["type"] == event.type_tag()
        assert body["event_id"] == event.event_id
        assert body["seq"] == event.seq
    assert json.loads(entries[3][1][b"event"])["latency"]["total_ms"] == 512.5
    assert [json.loads(f[b"event"])["seq"] for _, f in entries if f[b"call_id"] == b"call-a"] == [1, 2, 3, 4]
    await outbox.close()


async def test_an_event_that_cannot_be_encoded_does_not_stop_the_others(data_dir: Path, redis: Redis) -> None:
    registry = CollectorRegistry()
    outbox = _outbox(redis, data_dir / "spill.sqlite3", registry)
    await outbox.start()
    call = outbox.for_call("call-bad-tool")
    call.emit(ToolCalled, tool="weird", arguments={"handle": object()})  # not JSON-encodable
    good = call.emit(CallEnded, reason="hangup")
    assert await outbox.flush(timeout=10)
    assert [e["event_id"] for e in await _stream_events(redis)] == [good.event_id]
    later = call.emit(CallEnded, reason="again")
    assert await outbox.flush(timeout=10)
    assert [e["event_id"] for e in await _stream_events(redis)] == [good.event_id, later.event_id]
    assert registry.get_sample_value("artagent_outbox_unencodable_total") == 1  # dropped, but counted
    await outbox.close()


async def test_events_spilled_by_a_closed_outbox_are_replayed_first_by_the_next(
    data_dir: Path, embedded_redis: EmbeddedRedis
) -> None:
    spill = data_dir / "spill.sqlite3"
    embedded_redis.stop()  # Redis is down while the first process runs and exits
    gone = async_client(embedded_redis.url)
    first = _outbox(gone, spill)
    await first.start()
    call = first.for_call("call-crossing")
    before = [call.emit(TranscriptionReceived, text=f"before {i}") for i in range(300)]
    await first.close()
    await gone.aclose()
    assert spill_rows(spill) == 300

    embedded_redis.start()
    redis = async_client(embedded_redis.url)
    second = _outbox(redis, spill, batch_size=64)
    await second.start()
    assert second.depth >= 300
    # The same call goes on in the new process: its new events must land after the old ones.
    after = [
        TranscriptionReceived(call_id="call-crossing", seq=301 + i, text=f"after {i}") for i in range(100)
    ]
    for event in after:
        second.publish(event)
    assert await second.flush(timeout=10)
    stream = await _stream_events(redis)
    assert [e["event_id"] for e in stream] == [e.event_id for e in before + after]
    assert [e["seq"] for e in stream] == list(range(1, 401))
    assert spill_rows(spill) == 0
    await second.close()
    await redis.aclose()


async def test_overflow_moves_the_oldest_events_to_the_spill_file_and_keeps_order(
    data_dir: Path, redis: Redis
) -> None:
    registry = CollectorRegistry()
    outbox = _outbox(redis, data_dir / "spill.sqlite3", registry, max_queue=50, batch_size=10)
    await outbox.start()
    calls = [outbox.for_call(f"call-{i}") for i in range(3)]
    published: list[Event] = []
    for burst in range(10):
        # A burst far larger than max_queue arrives before the publisher gets a turn.
        published += [c.emit(TranscriptionReceived, text=f"{burst}") for _ in range(100) for c in calls]
        await asyncio.sleep(0)
    assert await outbox.flush(timeout=20)
    assert (registry.get_sample_value("artagent_outbox_spilled_total") or 0) > 0
    stream = await _stream_events(redis)
    assert [e["event_id"] for e in stream] == [e.event_id for e in published]
    assert spill_rows(outbox.spill.path) == 0
    await outbox.close()


async def test_close_publishes_what_is_queued_when_redis_is_up(data_dir: Path, redis: Redis) -> None:
    outbox = _outbox(redis, data_dir / "spill.sqlite3")
    await outbox.start()
    call = outbox.for_call("call-short")
    published = [call.emit(TranscriptionReceived, text=f"{i}") for i in range(50)]
    await outbox.close()  # straight away: the publisher has not had a turn yet
    assert [e["event_id"] for e in await _stream_events(redis)] == [e.event_id for e in published]
    assert spill_rows(outbox.spill.path) == 0


CALLS, PER_CALL = 20, 200


async def test_redis_restart_mid_stream_loses_nothing_duplicates_nothing_and_keeps_call_order(
    data_dir: Path, make_config: Callable[..., LoadedConfig]
) -> None:
    loaded = make_config(
        f'[runtime]\ndata_dir = "{data_dir}"\ndisable_plugins = ["analytics"]\nworker_name = "worker-a"\n'
        "[bus]\nclaim_idle_ms = 500\n[bus.outbox]\nretry_max_s = 0.02\n"
    )
    runtime = Runtime(loaded)
    assert runtime.embedded is not None
    groups = {"audit": Collector(), "billing": Collector()}
    for name, handler in groups.items():
        runtime.consumers.add(Subscription(group=name, handler=handler, start_at="oldest"))
    await runtime.start()
    await _pad_append_only_file(runtime.redis)
    spilled = lambda: runtime.registry.get_sample_value("artagent_outbox_spilled_total") or 0  # noqa: E731
    try:
        emitters = [runtime.outbox.for_call(f"call-{i:02d}") for i in range(CALLS)]
        published: list[Event] = []
        rounds = 0

        async def produce() -> None:
            nonlocal rounds
            for r in range(PER_CALL):
                published.extend(e.emit(TranscriptionReceived, text=f"turn {r}") for e in emitters)
                rounds = r + 1
                await asyncio.sleep(0.004)

        producer = asyncio.create_task(produce())
        await wait_until(lambda: rounds >= 50, what="a quarter of the events")
        await asyncio.to_thread(runtime.embedded.stop)
        assert not runtime.embedded.is_alive()
        down_at = rounds
        await wait_until(lambda: spilled() > 0, what="the outbox to spill while Redis is down")
        assert spill_rows(runtime.outbox.spill.path) > 0
        await wait_until(lambda: rounds >= min(PER_CALL, down_at + 60), what="publishing through the outage")
        await asyncio.to_thread(runtime.embedded.start)
        await asyncio.wait_for(producer, timeout=20)
        assert len(published) == CALLS * PER_CALL

        assert await runtime.outbox.flush(timeout=20)
        assert spill_rows(runtime.outbox.spill.path) == 0
        expected = {e.event_id for e in published}
        for name, handler in groups.items():
            await wait_until(lambda h=handler: len(set(h.ids())) >= len(expected), within=30, what=f"{name}")
            await wait_until(lambda n=name: _settled(runtime.redis, n), within=10, what=f"{name} to ack all")
        on_the_wire = [runtime.catalogue.decode(f[b"event"]) for _, f in await runtime.redis.xrange(STREAM)]
        first_seen: dict[str, Event] = {}
        for event in on_the_wire:
            first_seen.setdefault(event.event_id, event)
        assert set(first_seen) == expected
        assert_per_call_order(list(first_seen.values()))  # the stream itself keeps every call's order
        for name, handler in groups.items():
            ids = handler.ids()
            assert len(ids) == len(set(ids)), f"{name} was handed {len(ids) - len(set(ids))} duplicates"
            assert set(ids) == expected
            assert_per_call_order(handler.events)
    finally:
        await runtime.stop()


async def _settled(redis: Redis, group: str) -> bool:
    """Nothing pending and nothing left to read for ``group`` (Redis 6.2 has no XINFO lag)."""
    info = {g["name"].decode(): g for g in await redis.xinfo_groups(STREAM)}
    last = (await redis.xinfo_stream(STREAM))["last-generated-id"]
    return await pending_count(redis, group) == 0 and info[group]["last-delivered-id"] == last


async def _pad_append_only_file(redis: Redis, entries: int = 60_000) -> None:
    """Give the restarted Redis something to load: it answers LOADING meanwhile, and a batch
    written as loading ends must not land out of order."""
    for _ in range(entries // 5_000):
        pipe = redis.pipeline(transaction=False)
        for _ in range(5_000):
            pipe.xadd("padding", {"pad": "x" * 200})
        await pipe.execute()
