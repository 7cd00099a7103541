"""What one conversation WebSocket may send: message size and rate, checked per message.

Each connection has its own :class:`MessageGuard`, so a page that floods or sends garbage is
closed alone; the others never share a counter with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from artagent_browser.config import LimitsConfig
from artagent_browser.protocol import CLOSE_INVALID, CLOSE_POLICY, CLOSE_TOO_BIG, ProtocolError

__all__ = ["MessageGuard", "TokenBucket"]


class TokenBucket:
    """``rate`` events per second sustained, ``burst`` at once; ``now`` is a monotonic clock."""

    def __init__(self, rate: float, burst: int, now: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._now = rate, burst, now
        self._tokens, self._at = float(burst), now()

    def take(self) -> bool:
        """Spend one token; ``False`` when none is left."""
        now = self._now()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class MessageGuard:
    """Refuses, with a close code and reason, a message that breaks the connection's limits."""

    def __init__(self, limits: LimitsConfig, now: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._bucket = TokenBucket(limits.max_messages_per_s, limits.burst, now)

    def check(self, size: int) -> None:
        """Before a message of ``size`` bytes is looked at."""
        limit = self.limits.max_message_bytes
        if size > limit:
            raise ProtocolError(CLOSE_TOO_BIG, f"message too big: {size} bytes (limit {limit})")
        if not self._bucket.take():
            raise ProtocolError(
                CLOSE_POLICY, f"too many messages: more than {self.limits.max_messages_per_s:g} per second"
            )

    @staticmethod
    def check_audio(audio: bytes) -> None:
        """Caller audio must be whole 16-bit samples."""
        if len(audio) % 2:
            raise ProtocolError(
                CLOSE_INVALID,
                f"audio must be PCM16 (whole 2-byte samples): got {len(audio)} bytes",
            )
