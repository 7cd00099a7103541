"""A listening provider failing mid-call: how often its stream may be replaced.

The recogniser (STT) and the voice activity detector (VAD) are per-call streams opened from
providers shared by every call of the worker. A stream that raises is reported
(``error_occurred``) and replaced by a fresh one from the same provider, and the call goes on.
Failures in a burst mean the provider itself is down: once ``limit`` of them fall within
``window_s``, the session ends the call politely instead of reopening in a loop.
"""

from __future__ import annotations

import logging
from typing import Any

from artagent.session.playout import Clock

__all__ = ["FailureBudget", "close_quietly"]

log = logging.getLogger(__name__)


class FailureBudget:
    """Failures of one provider within a sliding window of time."""

    def __init__(self, clock: Clock, *, limit: int, window_s: float) -> None:
        self._clock, self._limit, self._window_s = clock, limit, window_s
        self._times: list[float] = []

    def spend(self) -> bool:
        """Count one failure now; whether to recover from it (false: ``limit`` failures within
        ``window_s``, this one included)."""
        now = self._clock.now()
        self._times = [t for t in self._times if now - t < self._window_s]
        self._times.append(now)
        return len(self._times) < self._limit


async def close_quietly(stream: Any) -> None:
    """Close a stream that may be broken: an error closing it changes nothing for the call."""
    try:
        await stream.close()
    except Exception:
        log.debug("closing a failed stream raised", exc_info=True)
