"""A managed identity endpoint as App Service and Container Apps provide it, on loopback.

``DefaultAzureCredential`` finds it through ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` (set
here, with the other sign-in variables cleared so that nothing else is tried first) and asks
``GET <endpoint>?resource=...&api-version=...`` with the ``X-IDENTITY-HEADER`` secret. Each test
says what token to issue for a resource, and for how long.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

__all__ = ["HEADER_SECRET", "managed_identity_endpoint"]

HEADER_SECRET = "identity-secret"
Issue = Callable[[str], Awaitable[tuple[str, int]]]
"""resource -> (access token, seconds it lives)."""


@asynccontextmanager
async def managed_identity_endpoint(
    monkeypatch: pytest.MonkeyPatch, issue: Issue
) -> AsyncIterator[list[dict[str, str]]]:
    """Serve tokens from ``issue`` until the block ends; yields the queries it answered."""
    served: list[dict[str, str]] = []

    async def token(request: web.Request) -> web.Response:
        if request.headers.get("X-IDENTITY-HEADER") != HEADER_SECRET:
            return web.json_response({"error": "bad header"}, status=401)
        served.append(dict(request.query))
        resource = request.query["resource"]
        value, lifetime_s = await issue(resource)
        body = {"access_token": value, "expires_on": str(int(time.time()) + lifetime_s),
                "resource": resource, "token_type": "Bearer"}  # fmt: skip
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/msi/token", token)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{port}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", HEADER_SECRET)
    try:
        yield served
    finally:
        await runner.cleanup()
