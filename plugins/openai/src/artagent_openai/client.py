"""The ``openai`` client a router talks through: OpenAI, Azure OpenAI or a compatible server.

The library's own retries are turned off (``max_retries=0``): the router retries itself, so that
it can stop retrying once the caller has heard something, honour the overall timeout, and move
on to the next model. Every address and credential is passed explicitly, so nothing is picked up
from ``OPENAI_*`` or ``AZURE_OPENAI_*`` variables behind the configuration's back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import openai

from artagent_openai.config import RouterConfig

__all__ = ["OPENAI_BASE_URL", "ClientHandle", "TokenProvider", "build_client", "entra_token_provider"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
TokenProvider = Callable[[], Awaitable[str]]
"""An async function returning a bearer token (Microsoft Entra ID), called before each request."""
_NO_KEY = "no-key-needed"
"""Sent as the key to a compatible server that takes none (the client insists on one)."""


@dataclass
class ClientHandle:
    """A client and what has to be closed with it."""

    client: openai.AsyncOpenAI
    close_credential: Callable[[], Awaitable[None]] | None = None

    async def aclose(self) -> None:
        await self.client.close()
        if self.close_credential is not None:
            await self.close_credential()


def entra_token_provider(scope: str) -> tuple[TokenProvider, Callable[[], Awaitable[None]]]:
    """Tokens from ``DefaultAzureCredential`` (managed identity, workload identity, Azure CLI,
    environment...), cached and refreshed by azure-identity; and the credential's ``close``."""
    from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider

    credential = DefaultAzureCredential()
    return get_bearer_token_provider(credential, scope), credential.close


def build_client(
    router: RouterConfig, *, api_key: str | None, token_provider: TokenProvider | None = None
) -> ClientHandle:
    """A client for ``router``; on Azure without a key, Entra ID tokens from ``token_provider``
    (by default :func:`entra_token_provider`)."""
    timeout = openai.Timeout(router.first_token_timeout_s, connect=router.connect_timeout_s)
    if router.kind == "azure":
        return _azure_client(router, api_key, token_provider, timeout)
    base_url = router.base_url or OPENAI_BASE_URL
    key = api_key or _NO_KEY
    return ClientHandle(openai.AsyncOpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=0))


def _azure_client(
    router: RouterConfig, api_key: str | None, token_provider: TokenProvider | None, timeout: openai.Timeout
) -> ClientHandle:
    # No azure_deployment: the client then puts each request's model in the path
    # (/openai/deployments/{model}/chat/completions), so fallback deployments work too.
    if api_key:
        client = openai.AsyncAzureOpenAI(
            azure_endpoint=router.endpoint,
            api_version=router.api_version,
            api_key=api_key,
            timeout=timeout,
            max_retries=0,
        )
        return ClientHandle(client)
    close: Callable[[], Awaitable[None]] | None = None
    if token_provider is None:
        token_provider, close = entra_token_provider(router.entra_scope)
    client = openai.AsyncAzureOpenAI(
        azure_endpoint=router.endpoint,
        api_version=router.api_version,
        azure_ad_token_provider=token_provider,
        timeout=timeout,
        max_retries=0,
    )
    return ClientHandle(client, close)
