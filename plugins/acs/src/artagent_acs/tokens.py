"""Per-call, expiring, HMAC-signed tokens for the URLs we hand to ACS.

Whoever holds a callback or media URL can drive that call, so each URL carries a token binding
the call id, what the URL is for, and an expiry, signed with a key only this server knows. A
token for one call (or one purpose) is worthless for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

__all__ = ["Purpose", "UrlSigner"]

Purpose = str
"""``media`` (the media WebSocket) or ``callback`` (Call Automation events)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class UrlSigner:
    """Issues and checks tokens ``<expiry>.<signature>``; ``clock`` is wall time in seconds."""

    def __init__(
        self, key: bytes | None = None, *, ttl_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = key or secrets.token_bytes(32)
        self.ttl_s, self._clock = ttl_s, clock

    def _sign(self, call_id: str, purpose: Purpose, expires: int) -> str:
        message = f"{purpose}\n{call_id}\n{expires}".encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def issue(self, call_id: str, purpose: Purpose) -> str:
        expires = int(self._clock() + self.ttl_s)
        return f"{expires}.{self._sign(call_id, purpose, expires)}"

    def check(self, token: str | None, call_id: str | None, purpose: Purpose) -> str | None:
        """``None`` when the token is valid for this call and purpose, else why it is not."""
        if not token or not call_id:
            return "missing call or token"
        expires_text, _, signature = token.partition(".")
        if not expires_text.isdigit() or not signature:
            return "malformed token"
        expires = int(expires_text)
        expected = self._sign(call_id, purpose, expires)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return "invalid token"
        if expires < self._clock():
            return "expired token"
        return None
