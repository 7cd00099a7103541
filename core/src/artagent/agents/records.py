"""Durable records for tools, in Redis: ``<prefix>:<collection>`` is a hash of JSON documents.

With the embedded Redis the append-only file is on, so a claim a tool recorded survives a
restart; a production Redis is configured for persistence by its operator. A tool call that
meets Redis restarting is retried for a few seconds (inside the tool's own time limit) rather
than failing the caller's request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from redis.asyncio import Redis
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

__all__ = ["RedisRecordStore"]

T = TypeVar("T")
_RETRYABLE = (ConnectionError, TimeoutError, BusyLoadingError, OSError)


class RedisRecordStore:
    def __init__(self, redis: Redis, *, prefix: str = "artagent:records", retry_s: float = 8.0) -> None:
        self.redis, self.prefix, self.retry_s = redis, prefix, retry_s
        self._encoder, self._decoder = msgspec.json.Encoder(), msgspec.json.Decoder()

    def _key(self, collection: str) -> str:
        return f"{self.prefix}:{collection}"

    async def _retry(self, operation: Callable[[], Awaitable[T]]) -> T:
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + self.retry_s, 0.05
        while True:
            try:
                return await operation()
            except _RETRYABLE:
                if loop.time() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def get(self, collection: str, key: str) -> Any | None:
        raw = await self._retry(lambda: self.redis.hget(self._key(collection), key))
        return None if raw is None else self._decoder.decode(raw)

    async def put(self, collection: str, key: str, value: Any) -> None:
        data = self._encoder.encode(value)
        await self._retry(lambda: self.redis.hset(self._key(collection), key, data))

    async def add(self, collection: str, key: str, value: Any) -> bool:
        data = self._encoder.encode(value)
        added = await self._retry(lambda: self.redis.hsetnx(self._key(collection), key, data))
        return bool(added)

    async def all(self, collection: str) -> dict[str, Any]:
        raw = await self._retry(lambda: self.redis.hgetall(self._key(collection)))
        return {_text(k): self._decoder.decode(v) for k, v in raw.items()}

    async def delete(self, collection: str, key: str) -> bool:
        removed = await self._retry(lambda: self.redis.hdel(self._key(collection), key))
        return bool(removed)

    async def next_number(self, counter: str) -> int:
        value = await self._retry(lambda: self.redis.hincrby(f"{self.prefix}:_counters", counter, 1))
        return int(value)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
