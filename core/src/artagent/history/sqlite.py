"""The embedded call history: one SQLite file under the data directory (store name ``sqlite``).

The stdlib driver blocks, so every statement runs in one of two single-thread executors, each
with its own connection: one writes (so writes are serialised inside the process, and ``BEGIN
IMMEDIATE`` serialises them with other processes sharing the file), one reads (WAL lets it read
while the writer writes). ``synchronous=FULL``: a committed batch survives a power cut, since
its events are acknowledged on the bus right after.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from artagent.events import Event
from artagent.history.document import CallDocument, CallPage, CallQuery, CallSummary, epoch_micros, sort_key
from artagent.history.fold import fold_events
from artagent.history.store import StoreContext

__all__ = ["DEFAULT_FILE", "SqliteHistoryStore"]

DEFAULT_FILE = "history.sqlite3"
T = TypeVar("T")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY,
    sort_key TEXT NOT NULL,
    started_us INTEGER NOT NULL,
    last_event_us INTEGER NOT NULL,
    outcome TEXT,
    agents TEXT NOT NULL,
    doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_by_sort_key ON calls (sort_key);
CREATE INDEX IF NOT EXISTS calls_by_last_event ON calls (last_event_us);
CREATE TABLE IF NOT EXISTS call_events (
    call_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (call_id, event_id)
) WITHOUT ROWID;
"""
_UPSERT = """
INSERT INTO calls (call_id, sort_key, started_us, last_event_us, outcome, agents, doc)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (call_id) DO UPDATE SET sort_key = excluded.sort_key, started_us = excluded.started_us,
    last_event_us = excluded.last_event_us, outcome = excluded.outcome, agents = excluded.agents,
    doc = excluded.doc
"""
_CHUNK = 500
"""Event ids per ``IN (...)`` lookup, well under SQLite's limit on bound parameters."""
_ENCODER = msgspec.json.Encoder()
_DOC = msgspec.json.Decoder(CallDocument)
_SUMMARY = msgspec.json.Decoder(CallSummary)


class SqliteHistoryStore:
    """Call documents in ``<data_dir>/history.sqlite3`` (or ``path``)."""

    name = "sqlite"

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0, max_events: int | None = None) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.max_events = max_events
        self._writer = _Connection(self, "history-sqlite-write")
        self._reader = _Connection(self, "history-sqlite-read")

    @classmethod
    def from_context(cls, context: StoreContext) -> SqliteHistoryStore:
        return cls(context.data_dir / DEFAULT_FILE, max_events=context.max_events)

    def connect(self) -> sqlite3.Connection:
        """A connection of this store's file (called in the executor thread that will use it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    async def start(self) -> None:
        await self._writer.run(lambda db: db.executescript(_SCHEMA))

    async def close(self) -> None:
        await self._writer.close()
        await self._reader.close()

    # -- writes ----------------------------------------------------------------------------------
    async def apply(self, events: Sequence[Event]) -> list[CallDocument]:
        by_call: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            by_call[event.call_id].append(event)
        if not by_call:
            return []
        return await self._writer.run(lambda db: _apply_all(db, by_call, self.max_events))

    async def delete_expired(self, before: dt.datetime) -> int:
        return await self._writer.run(lambda db: _delete_before(db, epoch_micros(before)))

    # -- reads -----------------------------------------------------------------------------------
    async def get(self, call_id: str) -> CallDocument | None:
        def read(db: sqlite3.Connection) -> CallDocument | None:
            row = db.execute("SELECT doc FROM calls WHERE call_id = ?", (call_id,)).fetchone()
            return _DOC.decode(row[0]) if row else None

        return await self._reader.run(read)

    async def list(self, query: CallQuery) -> CallPage:
        sql, args = _list_sql(query)
        rows = await self._reader.run(lambda db: db.execute(sql, args).fetchall())
        calls = [_SUMMARY.decode(row[0]) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        return CallPage(calls=calls, next_cursor=rows[query.limit - 1][1] if more else None)


class _Connection:
    """One connection used from one dedicated thread (sqlite3 objects stay in their thread)."""

    def __init__(self, store: SqliteHistoryStore, name: str) -> None:
        self._store = store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._db: sqlite3.Connection | None = None
        self._closed = False

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            self._db = self._store.connect()
        return work(self._db)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, work)

    async def close(self) -> None:
        """Close the connection and stop the thread; a second close does nothing."""
        if self._closed:
            return
        self._closed = True

        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=True)


def _apply_all(
    db: sqlite3.Connection, by_call: dict[str, list[Event]], max_events: int | None
) -> list[CallDocument]:
    """Every call of the batch in one transaction: one fsync, all or nothing."""
    changed: list[CallDocument] = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for call_id, events in by_call.items():
            doc = _apply_one(db, call_id, events, max_events)
            if doc is not None:
                changed.append(doc)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return changed


def _apply_one(
    db: sqlite3.Connection, call_id: str, events: list[Event], max_events: int | None
) -> CallDocument | None:
    seen: set[str] = set()
    ids = list(dict.fromkeys(e.event_id for e in events))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT event_id FROM call_events WHERE call_id = ? AND event_id IN ({marks})"
        seen.update(row[0] for row in db.execute(sql, (call_id, *chunk)))
    row = db.execute("SELECT doc FROM calls WHERE call_id = ?", (call_id,)).fetchone()
    doc, fresh = fold_events(
        _DOC.decode(row[0]) if row else None, call_id, events, seen, max_events=max_events
    )
    if doc is None or not fresh:
        return None
    rows = zip(itertools.repeat(call_id), fresh)
    db.executemany("INSERT INTO call_events (call_id, event_id) VALUES (?, ?)", rows)
    db.execute(_UPSERT, _row(doc))
    return doc


def _row(doc: CallDocument) -> tuple[Any, ...]:
    return (
        doc.call_id,
        sort_key(doc.started_at, doc.call_id),
        epoch_micros(doc.started_at),
        epoch_micros(doc.last_event_at),
        doc.outcome,
        _ENCODER.encode(doc.agents).decode(),
        _ENCODER.encode(doc),
    )


def _delete_before(db: sqlite3.Connection, cutoff_us: int) -> int:
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "DELETE FROM call_events WHERE call_id IN (SELECT call_id FROM calls WHERE last_event_us < ?)",
            (cutoff_us,),
        )
        deleted = db.execute("DELETE FROM calls WHERE last_event_us < ?", (cutoff_us,)).rowcount
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return int(deleted)


def _list_sql(query: CallQuery) -> tuple[str, list[Any]]:
    where: list[str] = ["1 = 1"]
    args: list[Any] = []
    if query.since is not None:
        where.append("started_us >= ?")
        args.append(epoch_micros(query.since))
    if query.until is not None:
        where.append("started_us < ?")
        args.append(epoch_micros(query.until))
    if query.outcome is not None:
        where.append("outcome = ?")
        args.append(query.outcome)
    if query.agent is not None:
        where.append("EXISTS (SELECT 1 FROM json_each(calls.agents) WHERE json_each.value = ?)")
        args.append(query.agent)
    if query.before is not None:
        where.append("sort_key < ?")
        args.append(query.before)
    args.append(query.limit + 1)
    sql = f"SELECT doc, sort_key FROM calls WHERE {' AND '.join(where)} ORDER BY sort_key DESC LIMIT ?"
    return sql, args
