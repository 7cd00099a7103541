"""An in-memory :class:`~artagent.agents.tools.RecordStore` for tests on virtual time (the
production store, :class:`~artagent.agents.records.RedisRecordStore`, needs a Redis)."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["MemoryRecordStore"]


class MemoryRecordStore:
    def __init__(self) -> None:
        self.collections: dict[str, dict[str, Any]] = {}
        self._counters: dict[str, int] = {}

    async def get(self, collection: str, key: str) -> Any | None:
        return copy.deepcopy(self.collections.get(collection, {}).get(key))

    async def put(self, collection: str, key: str, value: Any) -> None:
        self.collections.setdefault(collection, {})[key] = copy.deepcopy(value)

    async def add(self, collection: str, key: str, value: Any) -> bool:
        records = self.collections.setdefault(collection, {})
        if key in records:
            return False
        records[key] = copy.deepcopy(value)
        return True

    async def all(self, collection: str) -> dict[str, Any]:
        return copy.deepcopy(self.collections.get(collection, {}))

    async def delete(self, collection: str, key: str) -> bool:
        return self.collections.get(collection, {}).pop(key, None) is not None

    async def next_number(self, counter: str) -> int:
        self._counters[counter] = self._counters.get(counter, 0) + 1
        return self._counters[counter]
