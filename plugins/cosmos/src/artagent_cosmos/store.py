"""Call documents in Azure Cosmos DB for NoSQL, through the async ``azure-cosmos`` SDK.

One item per call, partitioned by ``/call_id`` (a call's writes and reads stay in one logical
partition), holding the document under ``doc``, the ids of the events folded into it under
``event_ids`` (so redelivery never folds an event twice, whichever worker gets it), and the
few top-level fields the queries filter and sort on. Writes are optimistic: read the item, fold,
then create it (409 if someone else did first) or replace it ``If-Match`` its ETag (412 if someone
changed it meanwhile), and start over on either. The container's default TTL is the retention,
so Cosmos DB expires calls by itself; :meth:`CosmosHistoryStore.delete_expired` also deletes
calls whose last event is older than the retention (events replayed long after they happened).

An item is at most 2 MB. The document's raw events are bounded (``[history] max_events``), which
leaves room for thousands of turns; an item that would still exceed :data:`ITEM_BUDGET` is shrunk
before it is sent (:func:`artagent.history.fit_document`: the raw events, then the oldest turns,
each counted in the document), since the service would refuse it with 413 on every redelivery.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import msgspec
from artagent.events import Event
from artagent.history import (
    CallDocument,
    CallPage,
    CallQuery,
    CallSummary,
    epoch_micros,
    fit_document,
    fold_events,
    sort_key,
)
from azure.core import MatchConditions
from azure.core.credentials_async import AsyncTokenCredential
from azure.cosmos import PartitionKey
from azure.cosmos.aio import ContainerProxy, CosmosClient
from azure.cosmos.exceptions import CosmosHttpResponseError, CosmosResourceNotFoundError

from artagent_cosmos.config import CosmosConfig

__all__ = ["INDEXING_POLICY", "ITEM_BUDGET", "CosmosHistoryStore", "ItemConflictError", "item_id"]

log = logging.getLogger(__name__)
_RETRIES = 10
ITEM_BUDGET = 2 * 1024 * 1024 - 64 * 1024
"""Largest item written, as compact JSON: Cosmos DB's 2 MB limit less room for the system
properties it adds (``_rid``, ``_etag``, ``_ts``...) and for how it counts."""
_ENCODE = msgspec.json.Encoder().encode
_INDEXED = ["/sort_key/?", "/started_us/?", "/last_event_us/?", "/doc/outcome/?", "/doc/agents/[]/?"]
INDEXING_POLICY: dict[str, Any] = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [{"path": path} for path in _INDEXED],
    "excludedPaths": [{"path": "/*"}],
}
"""Only what the queries filter and sort on is indexed: transcripts and tool results are not, so
writing a long call costs few request units."""


class ItemConflictError(RuntimeError):
    """A call's item kept changing under this writer; the batch is redelivered later."""


def item_id(call_id: str) -> str:
    """The item id of a call: the call id itself, unless it holds a character ids may not."""
    if call_id and len(call_id) <= 200 and not any(c in call_id for c in "/\\?#"):
        return call_id
    return "b64~" + base64.urlsafe_b64encode(call_id.encode()).decode()


class CosmosHistoryStore:
    name = "cosmos"

    def __init__(
        self,
        config: CosmosConfig,
        *,
        key: str | None,
        retention_s: int,
        credential: AsyncTokenCredential | None = None,
        max_events: int | None = None,
    ) -> None:
        self.config = config
        self.retention_s = retention_s
        self.max_events = max_events
        self._key = key
        self._credential = credential
        self._owned_credential: AsyncTokenCredential | None = None
        self._client: CosmosClient | None = None
        self._container: ContainerProxy | None = None
        self._limit = asyncio.Semaphore(config.max_concurrency)

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        credential: Any = self._key or self._credential
        if credential is None:
            from azure.identity.aio import DefaultAzureCredential

            credential = self._owned_credential = DefaultAzureCredential()
        timeout = self.config.timeout_s
        self._client = CosmosClient(
            self.config.endpoint, credential=credential, connection_timeout=timeout, read_timeout=timeout
        )
        database = await self._client.create_database_if_not_exists(self.config.database)
        container = await database.create_container_if_not_exists(
            id=self.config.container, partition_key=PartitionKey(path="/call_id"),
            default_ttl=self.retention_s, indexing_policy=INDEXING_POLICY,
        )  # fmt: skip
        properties = await container.read()
        if properties.get("defaultTtl") != self.retention_s:  # the retention was changed since
            log.info("cosmos: container %s default TTL %s -> %d s", self.config.container,
                     properties.get("defaultTtl"), self.retention_s)  # fmt: skip
            await database.replace_container(
                container, partition_key=PartitionKey(path="/call_id"), default_ttl=self.retention_s,
                indexing_policy=properties.get("indexingPolicy", INDEXING_POLICY),
            )  # fmt: skip
        self._container = container

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._owned_credential is not None:
            await self._owned_credential.close()
            self._owned_credential = None

    @property
    def container(self) -> ContainerProxy:
        if self._container is None:
            raise RuntimeError("the cosmos store is not started")
        return self._container

    # -- writes ----------------------------------------------------------------------------------
    async def apply(self, events: Sequence[Event]) -> list[CallDocument]:
        by_call: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            by_call[event.call_id].append(event)
        results = await asyncio.gather(*(self._apply_call(c, e) for c, e in by_call.items()))
        return [doc for doc in results if doc is not None]

    async def _apply_call(self, call_id: str, events: list[Event]) -> CallDocument | None:
        async with self._limit:
            for _ in range(_RETRIES):
                item = await self._read(call_id)
                seen = set(item["event_ids"]) if item else set()
                doc, fresh = fold_events(
                    _document(item) if item else None, call_id, events, seen, max_events=self.max_events
                )
                if doc is None or not fresh:
                    return None
                body = _fitted_item(doc, [*(item["event_ids"] if item else []), *fresh])
                try:
                    if item is None:
                        await self.container.create_item(body)
                    else:
                        await self.container.replace_item(
                            item=body["id"],
                            body=body,
                            etag=item["_etag"],
                            match_condition=MatchConditions.IfNotModified,
                        )
                    return doc
                except CosmosHttpResponseError as exc:
                    if exc.status_code not in (409, 412):
                        raise
        raise ItemConflictError(f"call {call_id!r}: its item changed {_RETRIES} times while being written")

    async def _read(self, call_id: str) -> dict[str, Any] | None:
        try:
            item: dict[str, Any] = await self.container.read_item(
                item=item_id(call_id), partition_key=call_id
            )
        except CosmosResourceNotFoundError:
            return None
        return item

    async def delete_expired(self, before: dt.datetime) -> int:
        query = "SELECT c.id, c.call_id FROM c WHERE c.last_event_us < @cutoff"
        params: list[dict[str, Any]] = [{"name": "@cutoff", "value": epoch_micros(before)}]
        expired = [row async for row in self.container.query_items(query, parameters=params)]

        async def delete(row: dict[str, Any]) -> int:
            async with self._limit:
                try:
                    await self.container.delete_item(item=row["id"], partition_key=row["call_id"])
                except CosmosResourceNotFoundError:
                    return 0  # expired by TTL meanwhile
                return 1

        return sum(await asyncio.gather(*(delete(row) for row in expired)))

    # -- reads -----------------------------------------------------------------------------------
    async def get(self, call_id: str) -> CallDocument | None:
        item = await self._read(call_id)
        return _document(item) if item else None

    async def list(self, query: CallQuery) -> CallPage:
        text, params = _list_query(query)
        rows = [row async for row in self.container.query_items(text, parameters=params)]
        calls = [msgspec.convert(row["doc"], CallSummary) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        return CallPage(calls=calls, next_cursor=rows[query.limit - 1]["sort_key"] if more else None)


def _document(item: dict[str, Any]) -> CallDocument:
    return msgspec.convert(item["doc"], CallDocument)


def _fitted_item(doc: CallDocument, event_ids: list[str]) -> dict[str, Any]:
    """The item, shrunk to :data:`ITEM_BUDGET` if it would exceed it."""
    body = _item(doc, event_ids)
    if len(_ENCODE(body)) <= ITEM_BUDGET:
        return body
    fit_document(doc, lambda d: len(_ENCODE(_item(d, event_ids))), ITEM_BUDGET)
    log.warning("cosmos: call %s shrunk to fit an item: %d events, %d transcript entries, %d tool "
                "calls left out", doc.call_id, doc.events_omitted, doc.transcript_omitted,
                doc.tool_calls_omitted)  # fmt: skip
    return _item(doc, event_ids)


def _item(doc: CallDocument, event_ids: list[str]) -> dict[str, Any]:
    return {
        "id": item_id(doc.call_id),
        "call_id": doc.call_id,
        "sort_key": sort_key(doc.started_at, doc.call_id),
        "started_us": epoch_micros(doc.started_at),
        "last_event_us": epoch_micros(doc.last_event_at),
        "event_ids": event_ids,
        "doc": msgspec.to_builtins(doc),
    }


def _list_query(query: CallQuery) -> tuple[str, list[dict[str, Any]]]:
    where: list[str] = []
    params: list[dict[str, Any]] = []

    def where_(clause: str, name: str, value: Any) -> None:
        where.append(clause)
        params.append({"name": name, "value": value})

    if query.since is not None:
        where_("c.started_us >= @since", "@since", epoch_micros(query.since))
    if query.until is not None:
        where_("c.started_us < @until", "@until", epoch_micros(query.until))
    if query.outcome is not None:
        where_("c.doc.outcome = @outcome", "@outcome", query.outcome)
    if query.agent is not None:
        where_("ARRAY_CONTAINS(c.doc.agents, @agent)", "@agent", query.agent)
    if query.before is not None:
        where_("c.sort_key < @before", "@before", query.before)
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT TOP {int(query.limit) + 1} * FROM c{condition} ORDER BY c.sort_key DESC", params
