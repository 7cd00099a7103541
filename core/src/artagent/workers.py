"""The live workers of a deployment and the calls each is carrying, kept in Redis with a TTL.

Counting calls from the bus (``call_started`` minus ``call_ended``) drifts: a worker killed
mid-call never publishes ``call_ended``, so its calls stay "active" for ever and an autoscaler
reading the count over-provisions. Instead each worker publishes its own count: one key,
``<stream>:worker:<name>``, holding ``{"active_calls": n, "draining": false, ...}`` and
expiring ``[runtime] heartbeat_ttl_s`` after it was written. The worker rewrites it every third
of that and whenever one of its calls starts or ends, and deletes it when it stops. A worker
that dies stops writing, its key expires, and its calls leave the count within the TTL.

The set ``<stream>:workers`` lists the names that wrote a key, so readers find the keys without
scanning the keyspace; a name whose key has expired is removed from it by the next reader.
Keys hang off the stream name, so deployments sharing one Redis (each with its own stream)
count their own workers only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from artagent.calls import ActiveCalls

__all__ = ["LiveWorkers", "WorkerBeacon", "WorkerStatus"]

log = logging.getLogger(__name__)


class WorkerStatus(msgspec.Struct, kw_only=True):
    """What a worker says about itself at each heartbeat."""

    active_calls: int = 0
    """Calls this worker is carrying now."""
    draining: bool = False
    """Shutting down: it takes no new calls (its calls still count)."""
    at: float = 0.0
    """When it wrote this, in Unix seconds (its own clock)."""


_ENCODE = msgspec.json.Encoder().encode
_DECODE = msgspec.json.Decoder(WorkerStatus).decode


def _set_key(stream: str) -> str:
    return f"{stream}:workers"


def _worker_key(stream: str, worker: str) -> str:
    return f"{stream}:worker:{worker}"


class LiveWorkers:
    """Reads the registry: which workers are alive and how many calls they carry."""

    def __init__(self, redis: Redis, *, stream: str) -> None:
        self.redis = redis
        self.stream = stream

    async def status(self) -> dict[str, WorkerStatus]:
        """Every live worker's last heartbeat, by name (dead ones are pruned from the set)."""
        members = await self.redis.smembers(_set_key(self.stream))
        names = sorted(n.decode() if isinstance(n, bytes) else n for n in members)
        if not names:
            return {}
        values = await self.redis.mget([_worker_key(self.stream, n) for n in names])
        live: dict[str, WorkerStatus] = {}
        dead: list[str] = []
        for name, raw in zip(names, values, strict=True):
            if raw is None:
                dead.append(name)
                continue
            try:
                live[name] = _DECODE(raw)
            except msgspec.DecodeError:
                log.warning("worker registry: undecodable entry for %s", name)
        if dead:
            await self._prune(dead)
        return live

    async def _prune(self, dead: list[str]) -> None:
        """Remove names whose key expired, unless the worker came back meanwhile (a script, so
        the check and the removal are one step)."""
        for name in dead:
            await self.redis.eval(_PRUNE, 2, _set_key(self.stream), _worker_key(self.stream, name), name)

    async def active_calls(self) -> int:
        """Calls carried right now by every live worker."""
        return sum(s.active_calls for s in (await self.status()).values())


_PRUNE = "if redis.call('EXISTS', KEYS[2]) == 0 then return redis.call('SREM', KEYS[1], ARGV[1]) end return 0"


class WorkerBeacon:
    """This worker's heartbeat: its entry in the registry, rewritten until it stops."""

    def __init__(
        self, redis: Redis, calls: ActiveCalls, *, stream: str, worker: str, ttl_s: float = 15.0
    ) -> None:
        self.redis = redis
        self.calls = calls
        self.stream = stream
        self.worker = worker
        self.ttl_s = ttl_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        calls.on_change(self._wake.set)

    def status(self) -> WorkerStatus:
        return WorkerStatus(active_calls=len(self.calls), draining=self.calls.draining, at=time.time())

    async def beat(self) -> None:
        """Write this worker's entry now (with a fresh TTL)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(_worker_key(self.stream, self.worker), _ENCODE(self.status()), px=int(self.ttl_s * 1000))
        pipe.sadd(_set_key(self.stream), self.worker)
        await pipe.execute()

    async def start(self) -> None:
        """The first heartbeat (raises if Redis refuses it), then one every third of the TTL."""
        await self.beat()
        self._task = asyncio.create_task(self._beat_forever(), name="worker-heartbeat")

    async def _beat_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.ttl_s / 3)
            self._wake.clear()
            try:
                await self.beat()
            except (RedisError, OSError) as exc:  # Redis away: calls go on, the entry may lapse
                log.warning("worker heartbeat failed (%s); retrying", exc)

    async def stop(self) -> None:
        """Stop beating and remove the entry: this worker's calls leave the count at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            pipe = self.redis.pipeline(transaction=True)
            pipe.delete(_worker_key(self.stream, self.worker))
            pipe.srem(_set_key(self.stream), self.worker)
            await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("could not remove this worker from the registry (%s); it expires by itself", exc)
