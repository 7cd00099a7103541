"""The browser as a :class:`~artagent.providers.MediaChannel`: caller frames from the page's
WebSocket in, agent frames, the call's events and ``stop`` out.

Everything sent down goes through one :class:`Outbound` queue written by one task, so audio,
events and control messages leave in the order they were produced and a barge-in can drop the
audio still waiting in that queue before the page is told to drop its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from artagent.events import CallEnded, Event
from litestar import WebSocket

from artagent_browser import protocol
from artagent_browser.protocol import CLOSE_POLICY

__all__ = ["BrowserChannel", "Outbound"]

log = logging.getLogger(__name__)


class Outbound:
    """The messages waiting for the page, sent in order by :meth:`run`."""

    def __init__(self, socket: WebSocket[Any, Any, Any], *, max_pending: int) -> None:
        self._socket, self._max_pending = socket, max_pending
        self._items: deque[str | bytes] = deque()
        self._wake = asyncio.Event()
        self._close: tuple[int, str] | None = None
        self.gone = False
        """The page went away (a send failed): nothing more is queued."""
        self.sent_audio = 0

    def audio(self, frame: bytes) -> None:
        self._put(frame)

    def text(self, message: str) -> None:
        self._put(message)

    def _put(self, item: str | bytes) -> None:
        if self.gone or self._close is not None:
            return
        if len(self._items) >= self._max_pending:
            self.close(CLOSE_POLICY, "the page is not reading its messages", drain=False)
            return
        self._items.append(item)
        self._wake.set()

    def drop_audio(self) -> int:
        """Forget the audio not sent yet (barge-in); returns how many frames."""
        kept: deque[str | bytes] = deque(item for item in self._items if isinstance(item, str))
        dropped = len(self._items) - len(kept)
        self._items = kept
        return dropped

    def close(self, code: int, reason: str, *, drain: bool = True) -> None:
        """Close once what is queued is sent (``drain``), or at once. The first close wins."""
        if self._close is None:
            self._close = (code, protocol.close_reason(reason))
            if not drain:
                self._items.clear()
            self._wake.set()

    async def run(self) -> None:
        """Send until closed; a page that went away ends it too."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._items:
                    item = self._items.popleft()
                    if isinstance(item, bytes):
                        await self._socket.send_bytes(item)
                        self.sent_audio += 1
                    else:
                        await self._socket.send_text(item)
                if self._close is not None:
                    await self._socket.close(*self._close)
                    return
        except Exception as exc:  # the connection is gone (a disconnect, a reset)
            log.debug("browser connection gone while sending: %r", exc)
            self.gone = True


class BrowserChannel:
    """One call's media over the page's WebSocket."""

    def __init__(
        self,
        outbound: Outbound,
        encode: Callable[[Event], bytes],
        *,
        call_id: str,
        scenario: str | None,
        max_frames: int = 250,
    ) -> None:
        self.outbound, self._encode = outbound, encode
        self.call_id, self.scenario = call_id, scenario
        self._inbound: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=max_frames)
        self.running = asyncio.Event()
        """Set when the session starts reading caller audio: it now takes typed turns too."""
        self.hangup_reason: str | None = None
        self.ended_reason: str | None = None
        """``call_ended``'s reason, once the call published it."""
        self.flushes = 0

    # -- MediaChannel --------------------------------------------------------------------
    async def frames(self) -> AsyncIterator[bytes]:
        if not self.running.is_set():
            self.running.set()
            self.outbound.text(protocol.ready(self.call_id, self.scenario))
        while (frame := await self._inbound.get()) is not None:
            yield frame

    async def send(self, frame: bytes) -> None:
        self.outbound.audio(frame)

    async def flush(self) -> None:
        """Barge-in: the audio not sent yet is dropped here, and ``stop`` tells the page to
        drop what it has queued."""
        self.flushes += 1
        self.outbound.drop_audio()
        self.outbound.text(protocol.stop())

    async def hangup(self, reason: str) -> None:
        self.hangup_reason = reason
        self.leave()

    # -- the page's side -----------------------------------------------------------------
    async def caller_audio(self, frame: bytes) -> None:
        """One 20 ms frame from the page; waits while the session is behind (back-pressure
        reaches the page through TCP)."""
        await self._inbound.put(frame)

    def leave(self) -> None:
        """The caller is gone (hung up, disconnected, or refused): end the frames."""
        while not self._inbound.empty():
            self._inbound.get_nowait()
        self._inbound.put_nowait(None)

    def observe(self, event: Event) -> None:
        """The launcher's observer: every event of the call goes to the page as published."""
        if isinstance(event, CallEnded):
            self.ended_reason = event.reason
        self.outbound.text(protocol.event_message(self._encode(event)))
