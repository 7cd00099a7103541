"""Short-lived session tokens: what ``POST /api/v1/browser/sessions`` hands the page and the
conversation WebSocket requires.

A token is a JWT signed with HS256 by this deployment's key. It names the call it opens and the
scenario picked on the page, lives ``token_ttl_s`` and opens one conversation: redeeming it
records its id in Redis (``SET NX`` with the token's remaining lifetime), so a token copied from
a log or a second tab is refused on every worker sharing that Redis.

With it comes a **view token** (another audience, ``history_ttl_s``): it lets the page show that
one call from the history (``GET /api/v1/browser/calls/{call_id}``) when the operator routes
are behind ``[server] api_token_env``, and nothing else.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import jwt
import msgspec
from redis.asyncio import Redis
from uuid_utils import uuid7

__all__ = ["AUDIENCE", "ISSUER", "VIEW_AUDIENCE", "SessionClaims", "SessionTokens", "TokenError"]

ISSUER = "artagent-browser"
AUDIENCE = "artagent-browser/conversation"
VIEW_AUDIENCE = "artagent-browser/call"
_KEY_PREFIX = "artagent:browser:token:"


class TokenError(ValueError):
    """The token is missing, malformed, signed by someone else, expired or used already; the
    message says which (it becomes the WebSocket close reason)."""


class SessionClaims(msgspec.Struct, frozen=True, kw_only=True):
    """What a session token grants."""

    call_id: str
    scenario: str | None = None
    user: str | None = None
    """Who asked for it (the OIDC user), shown as the call's caller."""
    token_id: str = ""
    expires_at: float = 0.0


class SessionTokens:
    """Issues and redeems session tokens; ``now`` is the wall clock (injected by tests)."""

    def __init__(
        self,
        redis: Redis,
        *,
        key: bytes | None = None,
        ttl_s: float = 60.0,
        view_ttl_s: float = 86_400.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._redis, self._key = redis, key or secrets.token_bytes(32)
        self.ttl_s, self.view_ttl_s, self._now = ttl_s, view_ttl_s, now

    def issue(self, *, scenario: str | None, user: str | None) -> tuple[str, SessionClaims]:
        """A fresh token for a new call."""
        now = self._now()
        claims = SessionClaims(
            call_id=f"browser-{uuid7()}",
            scenario=scenario,
            user=user,
            token_id=secrets.token_urlsafe(16),
            expires_at=now + self.ttl_s,
        )
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": int(now),
            "exp": int(now + self.ttl_s) + 1,  # whole seconds: never shorter than asked
            "jti": claims.token_id,
            "call_id": claims.call_id,
            "scenario": scenario,
            "sub": user,
        }
        present = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(present, self._key, algorithm="HS256"), claims

    def issue_view(self, call_id: str) -> str:
        """A token that reads this one call from the history, for ``view_ttl_s``."""
        now = self._now()
        payload = {"iss": ISSUER, "aud": VIEW_AUDIENCE, "iat": int(now),
                   "exp": int(now + self.view_ttl_s) + 1, "call_id": call_id}  # fmt: skip
        return jwt.encode(payload, self._key, algorithm="HS256")

    def verify_view(self, token: str | None, call_id: str) -> None:
        """Return when ``token`` is a view token of ``call_id``; raise :class:`TokenError` otherwise."""
        if not token:
            raise TokenError("Authorization: the call's view token is required (Bearer ...)")
        try:
            payload = jwt.decode(
                token, self._key, algorithms=["HS256"], audience=VIEW_AUDIENCE, issuer=ISSUER,
                options={"require": ["exp", "call_id"], "verify_iat": False}, leeway=0,
            )  # fmt: skip
        except jwt.ExpiredSignatureError:
            raise TokenError("view token expired: this call can no longer be shown from this page") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid view token: {exc}") from None
        if payload["call_id"] != call_id:
            raise TokenError(f"this view token is for another call, not {call_id!r}")

    def verify(self, token: str | None) -> SessionClaims:
        """The claims of a valid token (not yet marked used)."""
        if not token:
            raise TokenError("a session token is required: POST /api/v1/browser/sessions, then ?token=")
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "jti", "call_id"], "verify_iat": False},
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("session token expired: ask for a new one") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid session token: {exc}") from None
        return SessionClaims(
            call_id=str(payload["call_id"]),
            scenario=payload.get("scenario"),
            user=payload.get("sub"),
            token_id=str(payload["jti"]),
            expires_at=float(payload["exp"]),
        )

    async def redeem(self, token: str | None) -> SessionClaims:
        """Check the token and mark it used; a second redemption is refused."""
        claims = self.verify(token)
        ttl_ms = max(1, int((claims.expires_at - self._now()) * 1000))
        first = await self._redis.set(_KEY_PREFIX + claims.token_id, claims.call_id, nx=True, px=ttl_ms)
        if not first:
            raise TokenError("session token already used: each token opens one conversation")
        return claims
