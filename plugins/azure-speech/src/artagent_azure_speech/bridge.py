"""Handing values from the Speech SDK's threads to the event loop, in order.

The SDK calls its event handlers on its own native threads. Nothing there may touch asyncio
objects directly: :meth:`LoopBridge.put` schedules the value onto the loop with
``call_soon_threadsafe`` (a FIFO, so order is kept) and returns at once, so an SDK thread never
waits on the loop and the loop never waits on an SDK thread.
"""

from __future__ import annotations

import asyncio
from typing import Generic, Protocol, TypeVar

__all__ = ["LoopBridge", "Sink"]

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)
_END = object()


class Sink(Protocol[T_contra]):
    """The SDK side's view of a bridge: put values, then close."""

    def put(self, item: T_contra) -> None: ...

    def close(self) -> None: ...


class LoopBridge(Generic[T]):
    """A one-consumer queue fed from any thread; :meth:`close` ends it after what came before."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._closed = False
        self._ended = False

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: T) -> None:
        """From any thread. Dropped once closed, or once the loop itself is gone."""
        if not self._closed:
            self._send(item)

    def close(self) -> None:
        """From any thread, any number of times: the consumer gets ``None`` after the rest."""
        if not self._closed:
            self._closed = True
            self._send(_END)

    def put_local(self, item: T) -> None:
        """From the loop's own thread: queued behind what the SDK threads sent so far."""
        if not self._closed:
            self._loop.call_soon(self._queue.put_nowait, item)

    def _send(self, item: object) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is left to read
            pass

    async def get(self, timeout: float | None = None) -> T | None:
        """The next value, or ``None`` once closed; :class:`TimeoutError` after ``timeout`` s."""
        if self._ended:
            return None
        async with asyncio.timeout(timeout):
            item = await self._queue.get()
        if item is _END:
            self._ended = True
            return None
        return item  # type: ignore[return-value]
