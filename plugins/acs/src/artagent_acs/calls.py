"""What this worker knows of each ACS call: ids on both sides, who called whom, its session.

A call is registered when it is answered, placed or simulated, before ACS opens its media
WebSocket, here and in Redis (:mod:`artagent_acs.routing`): the worker the media socket reaches
hosts it, built from that record when it is not the worker that created it. The media socket
and the callbacks find it by our call id (carried, signed, in their URLs). Events that arrive
before the session runs (``CallConnected`` comes first) are kept and emitted once it does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from artagent.events import Event

from artagent_acs.routing import CallRecord, Direction

if TYPE_CHECKING:
    from artagent.session.engine import Session

    from artagent_acs.channel import AcsMediaChannel

__all__ = ["AcsCall", "CallBook", "Direction"]


@dataclass
class AcsCall:
    call_id: str
    direction: Direction
    caller: str | None = None
    callee: str | None = None
    scenario: str | None = None
    connection_id: str | None = None
    """ACS's ``callConnectionId``, once answer/create returned."""
    server_call_id: str | None = None
    events: bool = False
    """Send the call's events over the media socket (simulated calls that asked for them)."""
    session: Session | None = None
    channel: AcsMediaChannel | None = None
    media_connected: bool = False
    """This worker hosts the call: it claimed it and its media socket is here."""
    connected: bool = False
    """ACS said ``CallConnected``."""
    disconnected: bool = False
    transfer: asyncio.Future[bool] | None = None
    participants: set[str] = field(default_factory=set)
    pending: list[tuple[type[Event], dict[str, Any]]] = field(default_factory=list)
    created_at: float = field(default_factory=time.monotonic)

    @classmethod
    def from_record(cls, record: CallRecord) -> AcsCall:
        """A call another worker created, to be hosted here."""
        return cls(
            call_id=record.call_id, direction=record.direction, caller=record.caller,
            callee=record.callee, scenario=record.scenario, connection_id=record.connection_id,
            server_call_id=record.server_call_id, events=record.events,
        )  # fmt: skip

    def record(self) -> CallRecord:
        return CallRecord(
            call_id=self.call_id, direction=self.direction, caller=self.caller, callee=self.callee,
            scenario=self.scenario, connection_id=self.connection_id,
            server_call_id=self.server_call_id, events=self.events,
        )  # fmt: skip

    def emit(self, event_type: type[Event], **fields: Any) -> None:
        """Emit on the call's session, or keep it until the session runs."""
        if self.session is not None and not self.pending:
            self.session.emit(event_type, **fields)
        else:
            self.pending.append((event_type, fields))

    def attach(self, session: Session) -> None:
        """The session is about to run: what came before it is emitted just after its
        ``call_started`` (which ``run()`` emits before it first waits)."""
        self.session = session
        asyncio.get_running_loop().call_soon(self._flush, session)

    def _flush(self, session: Session) -> None:
        pending, self.pending = self.pending, []
        for event_type, fields in pending:
            session.emit(event_type, **fields)


class CallBook:
    """This worker's ACS calls by our id and by ACS's connection id. A call whose media never
    came is forgotten after ``stale_s``."""

    def __init__(self, *, stale_s: float) -> None:
        self._calls: dict[str, AcsCall] = {}
        self._by_connection: dict[str, str] = {}
        self.stale_s = stale_s

    def add(self, call: AcsCall) -> AcsCall:
        self._prune()
        self._calls[call.call_id] = call
        return call

    def link(self, call: AcsCall, connection_id: str | None, server_call_id: str | None = None) -> None:
        if connection_id:
            call.connection_id = connection_id
            self._by_connection[connection_id] = call.call_id
        call.server_call_id = server_call_id or call.server_call_id

    def get(self, call_id: str | None) -> AcsCall | None:
        return self._calls.get(call_id) if call_id else None

    def by_connection(self, connection_id: str | None) -> AcsCall | None:
        return self.get(self._by_connection.get(connection_id or ""))

    def remove(self, call_id: str) -> None:
        call = self._calls.pop(call_id, None)
        if call is not None and call.connection_id:
            self._by_connection.pop(call.connection_id, None)

    def __iter__(self) -> Iterator[AcsCall]:
        return iter(list(self._calls.values()))

    def __len__(self) -> int:
        return len(self._calls)

    def _prune(self) -> None:
        cutoff = time.monotonic() - self.stale_s
        for call in list(self._calls.values()):
            if not call.media_connected and call.created_at < cutoff:
                self.remove(call.call_id)
