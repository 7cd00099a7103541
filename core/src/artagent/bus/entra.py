"""Signing in to Redis with Microsoft Entra ID (``[bus] redis_auth = "entra"``).

Azure Managed Redis (and Azure Cache for Redis) accept an Entra ID access token for the scope
``https://redis.azure.com/.default`` as the password, with the identity's object id (the
token's ``oid`` claim) as the user name. Tokens expire, and the service closes a connection
whose token has expired, so the token is renewed before that and every open connection is
re-authenticated with the new one (``AUTH``) while it is idle in its pool, under the pool's lock.
redis-py's own re-authentication of busy connections is not used: it sends ``AUTH`` on a
connection after putting it back in the pool, outside the lock, where another task may already
have taken it for its next command (two commands' replies then mix on one connection).

The token comes from an ``azure.identity.aio`` credential (``DefaultAzureCredential`` by
default: the Container App's managed identity, workload identity, ``az login``...), so asking
for one never blocks the event loop. redis-entraid was considered: its token manager calls the
synchronous credential on the event loop, which this runtime does not allow (calls share it).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

import msgspec
from redis.asyncio.connection import ConnectionPool
from redis.auth.token import SimpleToken
from redis.credentials import StreamingCredentialProvider

__all__ = ["REDIS_SCOPE", "EntraRedisCredentials", "RedisTokenError", "object_id"]

log = logging.getLogger(__name__)
REDIS_SCOPE = "https://redis.azure.com/.default"


class RedisTokenError(RuntimeError):
    """No usable token: the credential failed, or its token names no identity."""


class _AccessToken(Protocol):
    token: str
    expires_on: int


class AsyncTokenCredential(Protocol):
    """What this needs of an ``azure.identity.aio`` credential."""

    async def get_token(self, *scopes: str) -> _AccessToken: ...


def object_id(token: str) -> str:
    """The ``oid`` claim of an Entra ID access token (a JWT; read, not verified: Redis does)."""
    try:
        payload = token.split(".")[1]
        claims = msgspec.json.decode(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, msgspec.DecodeError):
        raise RedisTokenError("the Entra ID token for Redis is not a JWT") from None
    oid = claims.get("oid") if isinstance(claims, dict) else None
    if not isinstance(oid, str) or not oid:
        raise RedisTokenError("the Entra ID token for Redis has no oid claim (the identity's object id)")
    return oid


class EntraRedisCredentials(StreamingCredentialProvider):
    """redis-py credentials (user = object id, password = token) renewed before they expire.

    ``renew_at``: the share of a token's lifetime after which a new one is asked for (the
    credential may hand back the same token until its own refresh time; this asks again, at
    most every ``min_wait_s``, until it gets a new one).
    """

    def __init__(
        self,
        credential: AsyncTokenCredential | None = None,
        *,
        scope: str = REDIS_SCOPE,
        renew_at: float = 0.75,
        min_wait_s: float = 1.0,
    ) -> None:
        self._credential = credential
        self._owned = credential is None
        self.scope = scope
        self.renew_at = renew_at
        self.min_wait_s = min_wait_s
        self._token: SimpleToken | None = None
        self._lock = asyncio.Lock()
        self._renewer: asyncio.Task[None] | None = None
        self._pools: list[ConnectionPool] = []
        self._listeners: list[Callable[[Any], Awaitable[None] | None]] = []
        self.renewals = 0
        """Renewals done: a new token taken after the first and the open connections re-authenticated
        with it (for tests and logs)."""

    # -- redis-py's CredentialProvider ----------------------------------------------------------
    def get_credentials(self) -> tuple[str, str]:
        """Synchronous clients: only once an async client has fetched a token."""
        if self._token is None or self._token.is_expired():
            raise RedisTokenError("Entra ID credentials for Redis are fetched by the async client first")
        return self._token.try_get("oid"), self._token.get_value()

    async def get_credentials_async(self) -> tuple[str, str]:
        token = await self._current()
        if self._renewer is None:
            self._renewer = asyncio.create_task(self._renew_forever(), name="redis-entra-token")
        return token.try_get("oid"), token.get_value()

    def on_next(self, callback: Callable[[Any], Any]) -> None:
        self._listeners.append(callback)

    def on_error(self, callback: Callable[[Exception], Any]) -> None:
        """Renewal errors are logged and retried here; redis-py's callback would raise them."""

    def is_streaming(self) -> bool:
        return self._renewer is not None

    # -- ours ---------------------------------------------------------------------------------
    def watch(self, pool: ConnectionPool) -> None:
        """Re-authenticate this pool's connections whenever the token is renewed."""
        if pool not in self._pools:
            self._pools.append(pool)

    async def _current(self) -> SimpleToken:
        async with self._lock:
            if self._token is None or self._token.is_expired():
                self._token = await self._fetch()
            return self._token

    async def _fetch(self) -> SimpleToken:
        credential = self._credential
        if credential is None:
            from azure.identity.aio import DefaultAzureCredential

            credential = self._credential = cast(AsyncTokenCredential, DefaultAzureCredential())
        try:
            access = await credential.get_token(self.scope)
        except Exception as exc:
            raise RedisTokenError(f"no Entra ID token for Redis ({self.scope}): {exc}") from exc
        now_ms = time.time() * 1000
        return SimpleToken(access.token, access.expires_on * 1000.0, now_ms, {"oid": object_id(access.token)})

    def _wait_s(self, token: SimpleToken) -> float:
        lifetime = token.get_expires_at_ms() - token.get_received_at_ms()
        due = token.get_received_at_ms() + self.renew_at * lifetime
        return max(self.min_wait_s, (due - time.time() * 1000) / 1000)

    async def _renew_forever(self) -> None:
        assert self._token is not None
        wait = self._wait_s(self._token)
        while True:
            await asyncio.sleep(wait)
            try:
                fresh = await self._fetch()
            except RedisTokenError as exc:
                log.warning("%s; trying again in %.0f s", exc, self.min_wait_s)
                wait = self.min_wait_s
                continue
            current = self._token
            if current is not None and fresh.get_value() == current.get_value():
                # The credential still hands out the same token: ask again nearer its expiry.
                wait = max(self.min_wait_s, current.ttl() / 1000 * (1 - self.renew_at))
                continue
            self._token = fresh
            await self._reauthenticate(fresh)
            self.renewals += 1
            wait = self._wait_s(fresh)

    async def _reauthenticate(self, token: SimpleToken) -> None:
        passes = (self._reauthenticate_pool(pool, token) for pool in self._pools)
        for failed in await asyncio.gather(*passes, return_exceptions=True):
            if isinstance(failed, Exception):  # connections then reconnect when the service drops them
                log.warning("re-authenticating a Redis connection pool failed: %r", failed)
        for listener in self._listeners:
            result = listener(token)
            if asyncio.iscoroutine(result):
                with contextlib.suppress(Exception):
                    await result

    async def _reauthenticate_pool(self, pool: ConnectionPool, token: SimpleToken) -> None:
        """``AUTH`` each connection open at renewal while it is idle (a busy one at a later pass,
        every ``min_wait_s``), holding the pool's lock so no task takes it meanwhile. New
        connections sign in with the new token by themselves."""
        pending: set[Any] | None = None
        while pending is None or pending:
            async with pool._lock:  # the lock get_connection and release take (redis-py's own)
                idle, busy = list(pool._available_connections), set(pool._in_use_connections)
                if pending is None:
                    pending = set(idle) | busy
                for connection in idle:
                    if connection in pending:
                        pending.discard(connection)
                        await self._auth(connection, token)
                pending &= busy | set(pool._available_connections)  # closed ones are gone
            if pending and token is self._token and not token.is_expired():
                await asyncio.sleep(self.min_wait_s)
            else:
                return

    @staticmethod
    async def _auth(connection: Any, token: SimpleToken) -> None:
        if not connection.is_connected:
            return  # it signs in with the current token when it reconnects
        try:
            await connection.send_command("AUTH", token.try_get("oid"), token.get_value(), check_health=False)
            await connection.read_response()
        except Exception as exc:  # it reconnects (with the new token) on its next command
            log.warning("re-authenticating a Redis connection failed: %r", exc)
            await connection.disconnect()

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        if self._owned and self._credential is not None:
            close = getattr(self._credential, "close", None)
            if close is not None:
                await close()
            self._credential = None
