"""Helpers shared by the bus tests: bounded polling, a recording handler, stream inspection."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from artagent.bus.redis import EmbeddedRedis
from artagent.bus.subscribers import BusConsumers, Subscription
from artagent.events import Event, EventCatalogue
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

STREAM = "artagent:events"


async def wait_until(predicate: Callable[[], Any], *, within: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` (sync or async) until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


class Collector:
    """A subscription handler that records every batch it is given; can be told to fail."""

    def __init__(self) -> None:
        self.batches: list[list[Event]] = []
        self.events: list[Event] = []
        self.failures_left = 0
        self.calls = 0

    async def __call__(self, events: list[Event]) -> None:
        self.calls += 1
        if self.failures_left > 0:
            self.failures_left -= 1
            raise RuntimeError("handler failed on purpose")
        self.batches.append(list(events))
        self.events.extend(events)

    def ids(self) -> list[str]:
        return [e.event_id for e in self.events]


def consumers(
    server: EmbeddedRedis,
    redis: Redis,
    catalogue: EventCatalogue,
    subs: Iterable[Subscription],
    *,
    consumer: str = "worker-test",
    claim_idle_ms: int = 30_000,
    linger_ms: int = 0,
    registry: CollectorRegistry | None = None,
) -> BusConsumers:
    bus = BusConsumers(
        url=server.url, password=None, stream=STREAM, consumer=consumer, catalogue=catalogue,
        redis=redis, claim_idle_ms=claim_idle_ms, linger_ms=linger_ms,
        registry=registry or CollectorRegistry(),
    )  # fmt: skip
    for sub in subs:
        bus.add(sub)
    return bus


def assert_per_call_order(events: Sequence[Event]) -> None:
    """Within each call, ``seq`` strictly increases in the order the handler saw the events."""
    last: dict[str, int] = defaultdict(int)
    for e in events:
        assert e.seq > last[e.call_id], f"{e.call_id}: seq {e.seq} after {last[e.call_id]}"
        last[e.call_id] = e.seq


async def pending_count(redis: Redis, group: str) -> int:
    summary = await redis.xpending(STREAM, group)
    return int(summary["pending"])


def spill_rows(path: Path) -> int:
    """Rows in an outbox spill file, read through a connection of our own."""
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM spill").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()
