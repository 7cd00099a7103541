"""The calls a worker is carrying, and how it lets them finish when it is asked to stop.

Channels admit each call here for its whole life. On SIGTERM the worker drains: it reports
not-ready, refuses new calls (:class:`DrainingError`), lets the active ones finish up to a
deadline, then asks those still going to end politely (each call's own ``end`` callback says
goodbye, publishes ``call_ended`` and hangs up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from prometheus_client import CollectorRegistry, Gauge

__all__ = ["ActiveCalls", "DrainingError", "EndCall"]

log = logging.getLogger(__name__)
EndCall = Callable[[str], Awaitable[None]]
"""Ends one call politely; the argument is the reason (for ``call_ended``)."""

DRAIN_REASON = "worker_shutdown"


class DrainingError(RuntimeError):
    """The worker is shutting down and takes no new calls (try another worker)."""


class ActiveCalls:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._calls: dict[str, EndCall] = {}
        self._changed = asyncio.Condition()
        self._listeners: list[Callable[[], None]] = []
        self.draining = False
        gauge = Gauge("artagent_active_calls", "Calls this worker is carrying", registry=registry)
        gauge.set_function(lambda: len(self._calls))

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._calls

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (no arguments, must not block) whenever a call starts or ends."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    def admit(self, call_id: str, end: EndCall) -> None:
        """Start carrying a call; raises :class:`DrainingError` while draining."""
        if self.draining:
            raise DrainingError("this worker is shutting down and takes no new calls")
        if call_id in self._calls:
            raise ValueError(f"call {call_id!r} is already active on this worker")
        self._calls[call_id] = end
        self._notify()

    async def finished(self, call_id: str) -> None:
        if self._calls.pop(call_id, None) is not None:
            self._notify()
            async with self._changed:
                self._changed.notify_all()

    @asynccontextmanager
    async def carrying(self, call_id: str, end: EndCall) -> AsyncIterator[None]:
        """Admit the call for the duration of the block."""
        self.admit(call_id, end)
        try:
            yield
        finally:
            await self.finished(call_id)

    async def _wait_empty(self, timeout: float) -> bool:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: not self._calls), timeout)
            except TimeoutError:
                return False
        return True

    async def drain(self, deadline_s: float, goodbye_s: float = 10.0) -> int:
        """Refuse new calls, wait up to ``deadline_s`` for the active ones to end, then end the
        rest politely (waiting up to ``goodbye_s`` for them). Returns how many were ended."""
        self.draining = True
        if await self._wait_empty(deadline_s):
            return 0
        remaining = dict(self._calls)
        log.warning("drain: ending %d call(s) still active after %.0f s", len(remaining), deadline_s)
        endings = (end(DRAIN_REASON) for end in remaining.values())
        results = await asyncio.gather(*endings, return_exceptions=True)
        for call_id, result in zip(remaining, results, strict=True):
            if isinstance(result, BaseException):
                log.error("drain: ending call %s failed: %r", call_id, result)
        if not await self._wait_empty(goodbye_s):
            log.error("drain: %d call(s) did not end in %.0f s", len(self._calls), goodbye_s)
        return len(remaining)
