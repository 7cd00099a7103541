"""Silence and duration in a realtime call, as ``[session]`` sets them for every call.

After ``idle_reprompt_s`` with nobody talking the agent asks whether the caller is still there
(the reprompt does not count as talk); after ``idle_hangup_s`` the call ends politely (reason
``idle``); at ``max_duration_s`` it ends (reason ``max_duration``).
"""

from __future__ import annotations

from typing import Protocol

from artagent.session.engine import SessionSettings
from artagent.session.playout import Clock

__all__ = ["Watchdog"]

CHECK_S = 0.25


class Watched(Protocol):
    settings: SessionSettings
    clock: Clock
    last_activity: float
    """Clock time of the last talk on either side (the reprompt aside)."""

    @property
    def talking(self) -> bool:
        """Someone is talking now (the caller, or the agent other than the reprompt)."""
        ...

    @property
    def ending(self) -> bool: ...

    async def end(self, reason: str) -> None: ...

    async def reprompt(self, text: str) -> None: ...


class Watchdog:
    def __init__(self, call: Watched, started_at: float) -> None:
        self._call, self._end_at = call, started_at + call.settings.max_duration_s
        self.reprompted = False
        """Reset when the caller speaks again."""

    async def run(self) -> None:
        call, s = self._call, self._call.settings
        while not call.ending:
            now = call.clock.now()
            if now >= self._end_at:
                await call.end("max_duration")
                return
            if call.talking:
                call.last_activity = now
            idle = now - call.last_activity
            if idle >= s.idle_hangup_s:
                await call.end("idle")
                return
            if idle >= s.idle_reprompt_s and not self.reprompted:
                self.reprompted = True
                await call.reprompt(s.idle_reprompt)
            await call.clock.sleep(CHECK_S)
