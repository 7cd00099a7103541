"""The call history of one runtime: its store, its bus subscriber, retention, and reads.

Built by the :class:`~artagent.runtime.Runtime` from ``[history]``: the store is the one
registered under ``[history] store`` (core's ``sqlite`` or a plugin's), the subscriber is its
own consumer group folding every call's events into the store, and a background task deletes
calls older than ``retention_days`` every ``purge_interval_s``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry, Counter

from artagent.bus.subscribers import Subscription
from artagent.config import ConfigError, ConfigIssue, HistoryConfig
from artagent.events import Event, utc_now
from artagent.history.document import CallDocument, CallPage, CallQuery
from artagent.history.sqlite import SqliteHistoryStore
from artagent.history.store import CallHistoryStore, StoreContext, StoreRegistry, StoreSpec

__all__ = [
    "CallHistory",
    "HistoryDisabledError",
    "InvalidCursorError",
    "builtin_stores",
    "decode_cursor",
    "encode_cursor",
]

log = logging.getLogger(__name__)
_SORT_KEY = re.compile(r"^\d{17}\|.+$", re.DOTALL)


class InvalidCursorError(ValueError):
    """A ``cursor`` that no page of this history handed out."""


def encode_cursor(key: str) -> str:
    """The opaque cursor for a store's sort key (URL-safe, no padding)."""
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursorError("not a cursor this API handed out") from None
    if not _SORT_KEY.match(key):
        raise InvalidCursorError("not a cursor this API handed out")
    return key


def builtin_stores() -> list[StoreSpec]:
    return [StoreSpec("sqlite", SqliteHistoryStore.from_context, description="SQLite file under data_dir")]


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        kw: dict[str, Any] = {"registry": registry}
        self.documents = Counter(
            "artagent_history_documents_written", "Call documents written by the history subscriber", **kw
        )
        self.expired = Counter("artagent_history_expired", "Calls deleted by the history retention", **kw)


class CallHistory:
    """``runtime.history``: ``None`` store when ``[history] store`` is empty (no history kept)."""

    def __init__(
        self,
        config: HistoryConfig,
        registry: StoreRegistry,
        *,
        data_dir: Path,
        metrics: CollectorRegistry,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.config = config
        self.store: CallHistoryStore | None = None
        self._clock = clock
        self._metrics = _Metrics(metrics)
        self._purger: asyncio.Task[None] | None = None
        if config.store:
            spec = registry.get(config.store)
            if spec is None:
                listed = ", ".join(registry.names()) or "none installed"
                raise ConfigError(
                    [ConfigIssue("history.store", f"no store named {config.store!r} ({listed})")]
                )
            context = StoreContext(
                data_dir=data_dir, retention_days=config.retention_days, max_events=config.max_events
            )
            self.store = spec.factory(context)

    @property
    def enabled(self) -> bool:
        return self.store is not None

    def subscription(self) -> Subscription:
        """The consumer group that folds events into the store; acknowledged once it has them."""
        store = self.store
        if store is None:
            raise RuntimeError("call history is disabled ([history] store is empty)")

        async def handle(events: list[Event]) -> None:
            self._metrics.documents.inc(len(await store.apply(events)))

        return Subscription(
            group=self.config.group, handler=handle, types=None, start_at="oldest",  # fold_events picks
            description=f"Call history: each call's events folded into its document ({store.name} store).",
        )  # fmt: skip

    async def start(self, *, purge: bool = True) -> None:
        if self.store is None:
            return
        await self.store.start()
        if purge:
            self._purger = asyncio.create_task(self._purge_forever(), name="history-retention")

    async def stop(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
            self._purger = None
        if self.store is not None:
            await self.store.close()

    async def purge(self) -> int:
        """Delete the calls whose last event is older than ``retention_days``; how many."""
        if self.store is None:
            return 0
        cutoff = self._clock() - dt.timedelta(days=self.config.retention_days)
        deleted = await self.store.delete_expired(cutoff)
        self._metrics.expired.inc(deleted)
        if deleted:
            log.info("history: deleted %d calls older than %s", deleted, cutoff.isoformat())
        return deleted

    async def _purge_forever(self) -> None:
        while True:
            try:
                await self.purge()
            except Exception:  # a store outage must not end retention for good
                log.exception("history: retention pass failed; next in %.0f s", self.config.purge_interval_s)
            await asyncio.sleep(self.config.purge_interval_s)

    # -- reads -------------------------------------------------------------------------------------
    async def list(self, query: CallQuery, cursor: str | None = None) -> CallPage:
        """A page of calls; ``cursor`` (from the previous page) is decoded into ``query.before``
        and raises :class:`InvalidCursorError` when it is not one."""
        store = self._require()
        if cursor is not None:
            query = msgspec.structs.replace(query, before=decode_cursor(cursor))
        page = await store.list(query)
        if page.next_cursor is not None:
            page.next_cursor = encode_cursor(page.next_cursor)
        return page

    async def get(self, call_id: str) -> CallDocument | None:
        return await self._require().get(call_id)

    def _require(self) -> CallHistoryStore:
        if self.store is None:
            raise HistoryDisabledError("call history is disabled: [history] store is empty")
        return self.store


class HistoryDisabledError(RuntimeError):
    """``[history] store`` is empty: no call history is kept."""
