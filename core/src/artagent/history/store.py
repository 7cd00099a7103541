"""What a call history store is, and how plugins offer one.

A store keeps one :class:`~artagent.history.document.CallDocument` per call and the ids of the
events folded into it, durably and together, so that applying the same events again changes
nothing (even after a restart) and a crash loses nothing the store acknowledged. Core ships the
SQLite store (``sqlite``); plugins register others (``cosmos``) with the ``register_stores``
hook, and ``[history] store`` in runtime.toml chooses one by name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from artagent.events import Event
from artagent.history.document import CallDocument, CallPage, CallQuery

__all__ = ["CallHistoryStore", "StoreContext", "StoreKind", "StoreRegistry", "StoreSpec"]

StoreKind = Literal["call_history"]


@runtime_checkable
class CallHistoryStore(Protocol):
    """Long-term call documents. Every method may be called from any task of the event loop;
    blocking work (a database driver, an SDK) runs in a bounded executor or is async itself."""

    name: str
    """The name ``[history] store`` chose it by (shown in logs and ``artagent calls``)."""

    async def start(self) -> None:
        """Open connections and create what is missing (tables, the container). Called once,
        when the runtime starts (or a CLI command opens the store), before any other method."""
        ...

    async def close(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...

    async def apply(self, events: Sequence[Event]) -> list[CallDocument]:
        """Fold ``events`` (of any calls) into their calls' documents (with
        :func:`~artagent.history.fold.fold_events`) and store each document together with the
        ids of the events folded into it, atomically per call; events whose ids are stored
        already are skipped, so applying the same events twice changes nothing.

        Returns the documents that changed. Returns only once the writes are durable: the
        subscriber acknowledges the events then, and a failure (raised) leaves them unacknowledged
        for redelivery. Safe against a concurrent ``apply`` for the same call from another worker.
        """
        ...

    async def get(self, call_id: str) -> CallDocument | None:
        """The call's document, or ``None`` if the store has none (never seen, or expired)."""
        ...

    async def list(self, query: CallQuery) -> CallPage:
        """Calls matching ``query``, newest first (descending :func:`~artagent.history.document.sort_key`),
        at most ``query.limit``; ``next_cursor`` is the last one's sort key when more remain."""
        ...

    async def delete_expired(self, before: dt.datetime) -> int:
        """Delete calls whose last event is older than ``before``; returns how many."""
        ...


class StoreContext:
    """What the runtime tells a store factory: where embedded files go, how long calls are kept,
    and how many raw events a document keeps (``fold_events(..., max_events=...)``)."""

    def __init__(self, *, data_dir: Path, retention_days: float, max_events: int | None = None) -> None:
        self.data_dir = data_dir
        self.retention_days = retention_days
        self.max_events = max_events

    @property
    def retention_s(self) -> int:
        return max(1, round(self.retention_days * 86_400))


@dataclass(frozen=True)
class StoreSpec:
    """A named store a plugin offers; ``factory`` builds it (no I/O: :meth:`CallHistoryStore.start`
    does that) from the runtime's :class:`StoreContext`."""

    name: str
    factory: Callable[[StoreContext], CallHistoryStore]
    kind: StoreKind = "call_history"
    description: str = ""

    def describe(self) -> str:
        return f"{self.kind}:{self.name}"


class StoreRegistry:
    """The stores of one runtime, by kind and name (core's ``sqlite`` first)."""

    def __init__(self) -> None:
        self._specs: dict[tuple[str, str], tuple[StoreSpec, str]] = {}

    def add(self, spec: StoreSpec, *, owner: str) -> None:
        if not isinstance(spec, StoreSpec):
            raise TypeError(f"{owner}: register_stores returned {spec!r}, not a StoreSpec")
        if spec.kind != "call_history":
            raise ValueError(f"{owner}: unknown store kind {spec.kind!r} (kinds: call_history)")
        key = (spec.kind, spec.name)
        if key in self._specs:
            raise ValueError(
                f"{owner}: {spec.kind} store {spec.name!r} is already registered by {self._specs[key][1]}"
            )
        self._specs[key] = (spec, owner)

    def names(self, kind: StoreKind = "call_history") -> list[str]:
        return sorted(name for k, name in self._specs if k == kind)

    def get(self, name: str, kind: StoreKind = "call_history") -> StoreSpec | None:
        found = self._specs.get((kind, name))
        return found[0] if found else None

    def owner(self, name: str, kind: StoreKind = "call_history") -> str:
        return self._specs[(kind, name)][1]
