"""The outbox: how a call publishes events without ever waiting on Redis.

``Outbox.publish()`` appends to an in-memory queue and returns; it never blocks and never raises.
A background task drains the queue to the Redis Stream in pipelined batches. When Redis cannot be
reached, queued events move to an append-only spill file (SQLite) and are replayed, oldest first,
once Redis answers again; new events wait behind them, so the stream keeps every call's order.

Invariant: every event in the spill file is older than every event in memory. The publisher
drains the spill file before memory, and only ever moves events from the front of memory to
the back of the spill file.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError

from artagent.bus.wire import WIRE_VERSION, XADD_BATCH_LUA
from artagent.events import Event, EventCatalogue

__all__ = ["CallEmitter", "EmitObserver", "Outbox", "SpillStore"]

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)
Row = tuple[str, str, str, bytes]
"""(type, call_id, event_id, JSON payload): one event ready for the wire."""


class SpillStore:
    """An append-only queue of encoded events in a SQLite file.

    Used from a single worker thread only (the outbox's I/O executor), so it needs no locks.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS spill (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " type TEXT, call_id TEXT, event_id TEXT, payload BLOB)"
            )
            self._db = db
        return self._db

    def append(self, rows: Sequence[Row]) -> None:
        db = self._conn()
        with db:
            db.execute("BEGIN")
            db.executemany("INSERT INTO spill (type, call_id, event_id, payload) VALUES (?, ?, ?, ?)", rows)

    def head(self, limit: int) -> list[tuple[int, Row]]:
        cur = self._conn().execute(
            "SELECT id, type, call_id, event_id, payload FROM spill ORDER BY id LIMIT ?", (limit,)
        )
        return [(r[0], (r[1], r[2], r[3], r[4])) for r in cur.fetchall()]

    def delete_through(self, last_id: int) -> None:
        self._conn().execute("DELETE FROM spill WHERE id <= ?", (last_id,))

    def count(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM spill").fetchone()[0])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class _Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        kw: dict[str, Any] = {"registry": registry}
        self.published = Counter("artagent_outbox_published", "Events written to the bus stream", **kw)
        self.spilled = Counter("artagent_outbox_spilled", "Events moved to the spill file", **kw)
        self.unencodable = Counter(
            "artagent_outbox_unencodable", "Events dropped because a field cannot be encoded as JSON", **kw
        )
        self.depth = Gauge("artagent_outbox_depth", "Events waiting in memory", **kw)
        self.spill_depth = Gauge("artagent_outbox_spill_depth", "Events waiting in the spill file", **kw)
        self.connected = Gauge("artagent_bus_connected", "1 while the outbox reaches Redis", **kw)


class Outbox:
    """Bounded, never-blocking publisher of events to one Redis Stream."""

    def __init__(
        self,
        redis: Redis,
        catalogue: EventCatalogue,
        *,
        stream: str,
        spill_path: Path,
        maxlen: int = 1_000_000,
        max_queue: int = 100_000,
        batch_size: int = 512,
        retry_max_s: float = 1.0,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.redis = redis
        self.catalogue = catalogue
        self.stream = stream
        self.maxlen = maxlen
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.retry_max_s = retry_max_s
        self.spill = SpillStore(spill_path)
        self._queue: collections.deque[Event] = collections.deque()
        self._spilled = 0
        self._busy = False
        self._closing = False
        self._wakeup = asyncio.Event()
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-spill")
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        self._down = False
        """The last write to Redis failed (unlike ``connected``, False before the first write)."""
        self._xadd_script = redis.register_script(XADD_BATCH_LUA)
        self._metrics = _Metrics(registry)
        self._metrics.depth.set_function(lambda: len(self._queue))
        self._metrics.spill_depth.set_function(lambda: self._spilled)
        self._metrics.connected.set_function(lambda: 1 if self.connected else 0)

    # -- the call side -------------------------------------------------------------------
    def publish(self, event: Event) -> None:
        """Queue ``event`` for the bus. Never blocks, never raises; call from the event loop."""
        self._queue.append(event)
        self._wakeup.set()

    def for_call(self, call_id: str) -> CallEmitter:
        return CallEmitter(call_id, self)

    @property
    def depth(self) -> int:
        """Events not yet on the bus: in memory plus in the spill file."""
        return len(self._queue) + self._spilled + (1 if self._busy else 0)

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._spilled = await loop.run_in_executor(self._io, self.spill.count)
        if self._spilled:
            log.info("outbox: %d spilled events from an earlier run will be replayed", self._spilled)
        self._task = asyncio.create_task(self._run(), name="outbox-publisher")

    async def flush(self, timeout: float = 10.0, *, while_reachable: bool = False) -> bool:
        """Wait until every queued event is on the bus; False if ``timeout`` passed first (or,
        with ``while_reachable``, as soon as a write to Redis fails)."""
        deadline = time.monotonic() + timeout
        while self.depth:
            if time.monotonic() > deadline or (while_reachable and self._down):
                return False
            self._wakeup.set()
            await asyncio.sleep(0.005)
        return True

    async def close(self, timeout: float = 10.0) -> None:
        """Publish what is queued (or spill it when Redis is away), then stop."""
        if self._task is None:
            return
        if not self._down:
            await self.flush(timeout, while_reachable=True)
        # The publisher stops between steps, never halfway through moving events to the spill
        # file (cancelling it there would drop them); it is cancelled only if a step hangs.
        self._closing = True
        self._wakeup.set()
        done, _ = await asyncio.wait({self._task}, timeout=timeout)
        if not done:
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._queue:
            await self._spill_memory()
            log.warning("outbox: %d events kept in %s for the next start", self._spilled, self.spill.path)
        await asyncio.get_running_loop().run_in_executor(self._io, self.spill.close)
        self._io.shutdown(wait=True)

    # -- the publisher -------------------------------------------------------------------
    async def _run(self) -> None:
        backoff = 0.05
        while not self._closing:
            if not self._queue and not self._spilled:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            try:
                if self._down:
                    # A restarted Redis answers LOADING until its data is back. The batch script is
                    # atomic (all of it or none), so this PING only keeps a whole batch from being
                    # encoded and sent just to be refused; it is one round trip per reconnection.
                    await self.redis.ping()
                if self._spilled:
                    await self._replay_spill()
                else:
                    await self._send_from_memory()
                if len(self._queue) > self.max_queue:
                    await self._spill_memory(len(self._queue) - self.max_queue // 2)
                self.connected = True
                self._down = False
                backoff = 0.05
            except (RedisError, OSError) as exc:
                if not self._down:
                    log.warning("outbox: Redis unreachable (%s); spilling to %s", exc, self.spill.path)
                self.connected = False
                self._down = True
                await self._spill_memory()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.retry_max_s)

    def _rows(self, events: Sequence[Event]) -> list[Row]:
        """Encode events for the wire; one that cannot be encoded is dropped and logged, so a
        bad field in one call's event never stops the publisher for every call."""
        encode = self.catalogue.encode
        rows: list[Row] = []
        for e in events:
            try:
                rows.append((e.type_tag(), e.call_id, e.event_id, encode(e)))
            except Exception as exc:  # msgspec raises TypeError, ValueError, OverflowError, ...
                self._metrics.unencodable.inc()
                log.error("outbox: dropped %s %s of call %s: not encodable as JSON: %s",
                          e.type_tag(), e.event_id, e.call_id, exc)  # fmt: skip
        return rows

    async def _xadd(self, rows: Sequence[Row]) -> None:
        """One round trip per batch: a script that XADDs every row (atomic, so a batch is never
        half written, and far cheaper to send than a pipeline of separate commands)."""
        args: list[Any] = [self.maxlen, WIRE_VERSION]
        for row in rows:
            args.extend(row)
        await self._xadd_script(keys=[self.stream], args=args)
        self._metrics.published.inc(len(rows))

    async def _send_from_memory(self) -> None:
        n = min(self.batch_size, len(self._queue))
        batch = [self._queue.popleft() for _ in range(n)]
        self._busy = True
        try:
            await self._xadd(self._rows(batch))
        except BaseException:
            self._queue.extendleft(reversed(batch))
            raise
        finally:
            self._busy = False

    async def _replay_spill(self) -> None:
        loop = asyncio.get_running_loop()
        head = await loop.run_in_executor(self._io, self.spill.head, self.batch_size)
        if not head:
            self._spilled = 0
            return
        await self._xadd([row for _, row in head])
        await loop.run_in_executor(self._io, self.spill.delete_through, head[-1][0])
        self._spilled = max(0, self._spilled - len(head))

    async def _spill_memory(self, count: int | None = None) -> None:
        """Move the oldest ``count`` events (all by default) from memory to the spill file."""
        n = len(self._queue) if count is None else min(count, len(self._queue))
        if n == 0:
            return
        events = [self._queue.popleft() for _ in range(n)]
        rows = self._rows(events)
        try:
            await asyncio.get_running_loop().run_in_executor(self._io, self.spill.append, rows)
        except (sqlite3.Error, OSError):
            log.exception("outbox: cannot write the spill file %s; keeping events in memory", self.spill.path)
            self._queue.extendleft(reversed(events))
            return
        self._spilled += n
        self._metrics.spilled.inc(n)


class Publisher(Protocol):
    """Anything events can be handed to: the :class:`Outbox`, or a test's recorder."""

    def publish(self, event: Event) -> None: ...


class EmitObserver(Protocol):
    """Told of each event as a call emits it (:class:`~artagent.observability.metrics.CallTelemetry`:
    the call's trace and the worker's counters)."""

    def traceparent(self) -> str | None:
        """The event's ``traceparent``: the span current where it is emitted."""
        ...

    def emitted(self, event: Event) -> None: ...


class CallEmitter:
    """Stamps one call's events with its ``call_id``, an increasing ``seq`` and (``observer``
    given) the ``traceparent`` of the span current where each is emitted, and publishes them."""

    __slots__ = ("_observer", "_outbox", "_seq", "call_id")

    def __init__(
        self, call_id: str, outbox: Publisher, *, start_seq: int = 0, observer: EmitObserver | None = None
    ) -> None:
        self.call_id = call_id
        self._outbox = outbox
        self._seq = start_seq  # the first event gets start_seq + 1: a resumed call goes on above
        self._observer = observer

    @property
    def seq(self) -> int:
        """The last ``seq`` given."""
        return self._seq

    def emit(self, event_type: type[E], **fields: Any) -> E:
        self._seq += 1
        observer = self._observer
        if observer is None:
            event = event_type(call_id=self.call_id, seq=self._seq, **fields)
        else:
            event = event_type(
                call_id=self.call_id, seq=self._seq, traceparent=observer.traceparent(), **fields
            )
            observer.emitted(event)
        self._outbox.publish(event)
        return event
