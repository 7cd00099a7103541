"""How the plugin proves who it is to Azure Speech: a resource key, or Entra ID tokens.

With no key configured, tokens come from an azure-identity credential (DefaultAzureCredential
in production: managed identity, workload identity, environment, az login). The Speech SDK
takes them as an *authorization token*: with a region it must read
``aad#<resource id>#<token>``; with a custom-domain endpoint the bare token works. Tokens last
about an hour and the SDK never renews them, so :class:`EntraTokens` hands out a cached one and
fetches the next one ``refresh_s`` before the current one expires.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

from azure.core.credentials import AccessToken, TokenCredential

__all__ = ["SCOPE", "Credentials", "EntraTokens", "authorization_token"]

SCOPE = "https://cognitiveservices.azure.com/.default"
"""The Entra ID scope of every Azure AI services resource."""


def authorization_token(access_token: str, resource_id: str) -> str:
    """The string the Speech SDK expects as its authorization token for an Entra ID token."""
    return f"aad#{resource_id}#{access_token}" if resource_id else access_token


class TokenSource(Protocol):
    async def token(self) -> str: ...

    def refresh_in(self) -> float: ...


class EntraTokens:
    """Cached Entra ID tokens for Speech, renewed before they expire.

    ``credential.get_token`` may do network I/O (the managed identity endpoint), so it runs in
    ``executor``; concurrent callers share one fetch.
    """

    def __init__(
        self,
        credential: TokenCredential,
        *,
        resource_id: str,
        refresh_s: float,
        executor: Executor | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self._resource_id = resource_id
        self._refresh_s = refresh_s
        self._executor = executor
        self._clock = clock
        self._current: AccessToken | None = None
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        current = self._current
        return current is not None and current.expires_on - self._refresh_s > self._clock()

    async def token(self) -> str:
        """A token valid for at least ``refresh_s`` more seconds, in the SDK's format."""
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    loop = asyncio.get_running_loop()
                    self._current = await loop.run_in_executor(
                        self._executor, self._credential.get_token, SCOPE
                    )
        assert self._current is not None
        return authorization_token(self._current.token, self._resource_id)

    def refresh_in(self) -> float:
        """Seconds until the cached token is due for renewal (0: now)."""
        if self._current is None:
            return 0.0
        return max(0.0, self._current.expires_on - self._refresh_s - self._clock())


@dataclass(frozen=True)
class Credentials:
    """A key (also none at all, for a container), or an Entra ID token source."""

    key: str | None = None
    tokens: TokenSource | None = None

    async def token(self) -> str | None:
        return None if self.tokens is None else await self.tokens.token()
