"""Bus subscribers: consumer groups on the event stream, run through FastStream.

Each :class:`Subscription` is its own consumer group. Delivery is at least once: a batch is
acknowledged only after its handler returns, entries a crashed consumer left pending are
reclaimed with XAUTOCLAIM by any live consumer of the group, and events the group has already
handled (redelivered, or published twice across a Redis outage) are dropped by ``event_id``
before the handler sees them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import msgspec
from faststream.message import StreamMessage
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.message import RedisBatchStreamMessage, RedisStreamMessage
from prometheus_client import CollectorRegistry, Counter, Histogram
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from artagent.bus.wire import entry_payload

if TYPE_CHECKING:
    from artagent.bus.entra import EntraRedisCredentials
from artagent.events import Event, EventCatalogue
from artagent.observability.tracing import Tracing

__all__ = ["BusConsumers", "Deduplicator", "Subscription"]

log = logging.getLogger(__name__)
Handler = Callable[[list[Event]], Awaitable[None]]
Entry = tuple[bytes, Event | None]
"""A stream entry id and its event (``None``: no registered event type decodes it)."""
_READER_PAUSE_S = 2.0
"""A gap between batches longer than this may hide a failed read (FastStream waits 5 s after one)."""


@dataclass(frozen=True)
class Subscription:
    """A handler for batches of events, with its own consumer group.

    ``types`` limits what the handler is given (others are acknowledged and skipped);
    ``start_at`` says where a group that does not exist yet begins: ``"oldest"`` replays what
    the stream still holds, ``"new"`` starts with the next event.
    """

    group: str
    handler: Handler
    types: frozenset[str] | None = None
    start_at: Literal["oldest", "new"] = "new"
    description: str = ""

    def describe(self) -> str:
        return f"subscriber {self.group}"


def _bucket(event_id: str) -> str:
    """The minute an event id was made in (UUIDv7 carries its millisecond timestamp)."""
    try:
        return str(int(event_id.replace("-", "")[:12], 16) // 60_000)
    except ValueError:
        return "other"


class Deduplicator:
    """Remembers which event ids one consumer group has handled.

    Ids are kept in one Redis set per minute of their own timestamp, so a redelivered event
    always lands in the bucket it was first recorded in; buckets expire after the window.
    """

    def __init__(self, redis: Redis, group: str, window_s: int, prefix: str = "artagent:dedup") -> None:
        self.redis = redis
        self.window_s = window_s
        self.prefix = f"{prefix}:{group}"
        self._unrecorded: dict[str, Event] = {}
        """Handled, but Redis went away before they were recorded: still seen, recorded next time."""
        self._expiry_set: dict[str, float] = {}
        """When this process last set each bucket's TTL (monotonic seconds)."""

    def _by_bucket(self, events: Sequence[Event]) -> dict[str, list[str]]:
        buckets: dict[str, list[str]] = {}
        for e in events:
            buckets.setdefault(f"{self.prefix}:{_bucket(e.event_id)}", []).append(e.event_id)
        return buckets

    async def unseen(self, events: Sequence[Event]) -> list[Event]:
        """The events not handled before, each once, in their original order."""
        unique: dict[str, Event] = {}
        for e in events:
            if e.event_id not in self._unrecorded:
                unique.setdefault(e.event_id, e)
        if not unique:
            return []
        buckets = self._by_bucket(list(unique.values()))
        if len(buckets) == 1:  # the usual case: one round trip, no pipeline overhead
            ((key, ids),) = buckets.items()
            replies = [await self.redis.smismember(key, ids)]
        else:
            pipe = self.redis.pipeline(transaction=False)
            for key, ids in buckets.items():
                pipe.smismember(key, ids)
            replies = await pipe.execute()
        seen: set[str] = set()
        for ids, flags in zip(buckets.values(), replies, strict=True):
            seen.update(i for i, flag in zip(ids, flags, strict=True) if flag)
        return [e for i, e in unique.items() if i not in seen]

    async def mark(self, events: Sequence[Event]) -> None:
        """Record handled events (and any whose recording failed before); raises if Redis is away."""
        todo = [*self._unrecorded.values(), *events]
        if not todo:
            return
        pipe = self.redis.pipeline(transaction=False)
        now = time.monotonic()
        for key, ids in self._by_bucket(todo).items():
            pipe.sadd(key, *ids)
            if now - self._expiry_set.get(key, -1e9) > 60:  # a bucket's TTL is set about once a minute
                pipe.expire(key, self.window_s + 60)
                self._expiry_set[key] = now
        if len(self._expiry_set) > 4 * (self.window_s // 60 + 2):
            self._expiry_set = {k: t for k, t in self._expiry_set.items() if now - t <= 60}
        try:
            await pipe.execute()
        except BaseException:
            self._unrecorded.update((e.event_id, e) for e in events)
            raise
        self._unrecorded.clear()


class _ConsumerMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        kw: dict[str, Any] = {"registry": registry}
        self.consumed = Counter("artagent_bus_consumed", "Events handed to subscribers", ["group"], **kw)
        self.duplicates = Counter(
            "artagent_bus_duplicates_dropped", "Redelivered events dropped by event_id", ["group"], **kw
        )
        self.undecodable = Counter(
            "artagent_bus_undecodable", "Stream entries no registered event type decodes", ["group"], **kw
        )
        self.lag = Histogram(
            "artagent_bus_consumer_lag_seconds",
            "Time from an entry entering the stream to its batch being handled (oldest entry per batch)",
            ["group"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            **kw,
        )


class BusConsumers:
    """Runs every subscription of one process on a FastStream RedisBroker."""

    def __init__(
        self,
        *,
        url: str,
        password: str | None,
        stream: str,
        consumer: str,
        catalogue: EventCatalogue,
        redis: Redis,
        batch: int = 1024,
        claim_idle_ms: int = 30_000,
        dedup_window_s: int = 3_600,
        linger_ms: int = 0,
        registry: CollectorRegistry | None = None,
        tracing: Tracing | None = None,
        credentials: EntraRedisCredentials | None = None,
    ) -> None:
        """``tracing``: each handled batch becomes a ``process`` span continuing the trace of
        the events' calls (none: nothing is traced)."""
        self.stream = stream
        self.tracing = tracing or Tracing()
        self.consumer = consumer
        self.credentials = credentials
        self.catalogue = catalogue
        self.redis = redis
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.dedup_window_s = dedup_window_s
        self.linger_s = linger_ms / 1000
        self.subscriptions: list[Subscription] = []
        self._metrics = _ConsumerMetrics(registry)
        self.broker = RedisBroker(
            url,
            **_connection_options(password, credentials),
            logger=logging.getLogger("artagent.bus.faststream"),
            log_level=logging.DEBUG,
            graceful_timeout=5.0,
            description="ARTAgent event bus: every event of every call, as JSON on one Redis Stream.",
        )
        self.broker.publisher(
            stream=stream,
            title="events",
            description="Published by every worker's outbox (XADD; fields v, type, call_id, "
            "event_id, event). See docs/events.md.",
        )
        self.started = False

    def add(self, sub: Subscription) -> None:
        """Declare a subscription; call before :meth:`start`."""
        if any(s.group == sub.group for s in self.subscriptions):
            raise ValueError(f"two subscribers use the consumer group {sub.group!r}")
        self.subscriptions.append(sub)
        delivery = _GroupDelivery(self, sub)
        reader = StreamSub(
            self.stream, group=sub.group, consumer=self.consumer, batch=True,
            max_records=self.batch, polling_interval=1000,
        )  # fmt: skip
        reclaimer = StreamSub(
            self.stream, group=sub.group, consumer=self.consumer,
            min_idle_time=self.claim_idle_ms, polling_interval=max(1000, self.claim_idle_ms // 4),
        )  # fmt: skip
        name = sub.group.replace("-", "_").replace(":", "_")

        async def read(body: list[Any]) -> None:
            await delivery.read(body)

        async def reclaim(body: list[Any]) -> None:
            await delivery.reclaim(body)

        read.__name__ = reclaim.__name__ = name
        codec: dict[str, Any] = {"parser": delivery.faststream_parser, "decoder": delivery.faststream_decoder}
        broker = self.broker
        broker.subscriber(stream=reader, title=sub.group, description=sub.description, **codec)(read)
        broker.subscriber(stream=reclaimer, title=f"{sub.group}:reclaim", **codec)(reclaim)

    async def _create_groups(self) -> None:
        for sub in self.subscriptions:
            start = "0" if sub.start_at == "oldest" else "$"
            try:
                await self.redis.xgroup_create(self.stream, sub.group, id=start, mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def start(self) -> None:
        await self._create_groups()
        await self.broker.start()
        if self.credentials is not None:  # its connections are re-authenticated on renewal too
            client = await self.broker.connect()
            self.credentials.watch(client.connection_pool)
        self.started = True

    async def stop(self) -> None:
        if self.started:
            await self.broker.stop()
            self.started = False

    def asyncapi(self, events_schema: dict[str, Any]) -> dict[str, Any]:
        """The AsyncAPI 3.0 document of the bus, with every payload typed as an event."""
        from faststream.specification import AsyncAPI

        spec = AsyncAPI(
            self.broker, title="ARTAgent event bus", version="1", schema_version="3.0.0"
        ).to_specification()
        doc: dict[str, Any] = spec.to_jsonable()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        rewritten = msgspec.json.encode(events_schema).replace(b"#/$defs/", b"#/components/schemas/")
        events = msgspec.json.decode(rewritten)
        for message in doc["components"].get("messages", {}).values():
            schemas.pop(message.get("payload", {}).get("$ref", "").rsplit("/", 1)[-1], None)
            message["payload"] = {"$ref": "#/components/schemas/Event"}
        schemas.update(events.pop("$defs", {}))
        events.pop("$schema", None)
        schemas["Event"] = events
        return doc


def _connection_options(password: str | None, credentials: EntraRedisCredentials | None) -> dict[str, Any]:
    """Extra redis-py connection options for the broker (FastStream passes them through)."""
    if credentials is not None:
        return {"credential_provider": credentials}
    return {"password": password} if password else {}


class _GroupDelivery:
    """How one consumer group of this process hands batches to its handler.

    The group's reader (XREADGROUP) and reclaimer (XAUTOCLAIM) run in separate tasks; they take
    turns on a lock, so the handler gets one batch at a time and never the same event twice at
    once. When this consumer may hold entries it was given and never acknowledged (at start,
    after a batch failed on a Redis error, after a pause in reading, and whenever XAUTOCLAIM
    reclaims something), those are handed over first, oldest first, so a call's events keep
    their order across a Redis restart.
    """

    def __init__(self, bus: BusConsumers, sub: Subscription) -> None:
        self.sub = sub
        self.bus = bus
        self.lock = asyncio.Lock()
        self.recover = True
        self.last_read = time.monotonic()
        self.dedup = Deduplicator(bus.redis, sub.group, bus.dedup_window_s)
        metrics = bus._metrics
        self.consumed = metrics.consumed.labels(sub.group)
        self.duplicates = metrics.duplicates.labels(sub.group)
        self.undecodable = metrics.undecodable.labels(sub.group)
        self.lag = metrics.lag.labels(sub.group)

    def decode(self, entries: Iterable[tuple[bytes, Mapping[bytes, bytes] | None]]) -> list[Entry]:
        """Decode stream entries; one no event type decodes becomes ``None``, counted, not fatal."""
        out: list[Entry] = []
        for entry_id, fields in entries:
            payload = entry_payload(fields) if fields else None
            try:
                if payload is None:
                    raise msgspec.DecodeError("no 'event' field")
                out.append((entry_id, self.bus.catalogue.decode(payload)))
            except msgspec.MsgspecError as exc:
                self.undecodable.inc()
                log.warning("bus: entry %s skipped by %s: %s", entry_id.decode(), self.sub.group, exc)
                out.append((entry_id, None))
        return out

    async def faststream_parser(self, msg: Any, _original: Any) -> StreamMessage[Any]:
        """Wrap the raw entries without FastStream's own body parsing: the decoder reads them."""
        ids = msg["message_ids"]
        ref = ids[0].decode() if ids else ""
        cls = RedisBatchStreamMessage if isinstance(msg["data"], list) else RedisStreamMessage
        return cls(
            msg,
            b"",
            consumer=cast(Any, self.bus.redis),
            group=self.sub.group,
            message_id=ref,
            correlation_id=ref,
        )

    async def faststream_decoder(self, msg: Any, _original: Any) -> list[Entry]:
        raw = msg.raw_message
        entries = raw["data"] if isinstance(raw["data"], list) else [raw["data"]]
        return self.decode(zip(raw["message_ids"], entries, strict=True))

    async def read(self, body: list[Entry]) -> None:
        async with self.lock:
            # FastStream keeps read errors to itself, but pauses the reader after one; a read whose
            # reply was lost (Redis stopped right after answering) left entries pending to us.
            paused = time.monotonic() - self.last_read > _READER_PAUSE_S
            if self.recover or paused:
                await self._recover(until={entry_id for entry_id, _ in body})
            await self._deliver(body)
            self.last_read = time.monotonic()
        if 0 < len(body) < self.bus.batch and self.bus.linger_s:
            # A short batch: let events gather before the next read. What a batch costs (the
            # read, the duplicate check, the handler's call, the acknowledgement) hardly
            # depends on its size, and a worker carrying many calls otherwise reads them one
            # or two at a time.
            await asyncio.sleep(self.bus.linger_s)

    async def reclaim(self, body: list[Entry]) -> None:
        # XAUTOCLAIM hands entries over one at a time, from wherever its cursor stopped; this
        # consumer may hold older ones, so everything it holds goes first, oldest first.
        async with self.lock:
            await self._recover(until=set())
            await self._deliver(body)

    async def _deliver(self, body: list[Entry]) -> None:
        if body:  # once per batch: the oldest entry's wait is the batch's lag
            self.lag.observe(max(0.0, time.time() * 1000 - int(body[0][0].split(b"-")[0])) / 1000)
        types = self.sub.types
        events = [e for _, e in body if e is not None and (types is None or e.type_tag() in types)]
        try:
            fresh = await self.dedup.unseen(events)
            self.duplicates.inc(len(events) - len(fresh))
            if fresh:
                with self.bus.tracing.consuming(self.sub.group, self.bus.stream, fresh):
                    await self.sub.handler(fresh)
                await self.dedup.mark(fresh)
                self.consumed.inc(len(fresh))
        except (RedisError, OSError):
            self.recover = True
            raise

    async def _recover(self, until: set[bytes]) -> None:
        """Deliver and acknowledge this consumer's pending entries, up to the first in ``until``."""
        bus, group = self.bus, self.sub.group
        start: bytes = b"0"
        while True:
            reply = await bus.redis.xreadgroup(group, bus.consumer, {bus.stream: start}, count=bus.batch)
            entries = _stream_entries(reply)
            older = list(itertools.takewhile(lambda entry: entry[0] not in until, entries))
            if older:
                log.info("bus: %s hands over %d entries it had not acknowledged", group, len(older))
                await self._deliver(self.decode(older))
                await bus.redis.xack(bus.stream, group, *[entry_id for entry_id, _ in older])
            if len(older) < len(entries) or len(entries) < bus.batch:
                break
            start = entries[-1][0]
        self.recover = False


def _stream_entries(reply: Any) -> list[tuple[bytes, Mapping[bytes, bytes] | None]]:
    """The entries of a one-stream XREADGROUP reply (RESP2: ``[[stream, [(id, fields), ...]]]``)."""
    return [(entry_id, fields) for entry_id, fields in reply[0][1] if entry_id is not None] if reply else []
