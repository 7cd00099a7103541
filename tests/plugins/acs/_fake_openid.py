"""ACS's OpenID configuration and signing keys, served locally, and tokens signed like ACS's."""

from __future__ import annotations

import time
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://acscallautomation.communication.azure.com"
AUDIENCE = "11111111-2222-3333-4444-555555555555"


class FakeOpenId:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.url = ""
        self.fetches = 0
        self._runner: web.AppRunner | None = None

    def token(
        self, *, audience: str = AUDIENCE, expires_in: float = 300, key: Any = None, kid: str = "k1"
    ) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": audience, "iat": now, "nbf": now, "exp": now + int(expires_in)}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid})

    async def start(self) -> str:
        async def config(request: web.Request) -> web.Response:
            self.fetches += 1
            return web.json_response({"issuer": ISSUER, "jwks_uri": f"{self.url}/keys"})

        async def keys(request: web.Request) -> web.Response:
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            return web.json_response({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})

        app = web.Application()
        app.router.add_get("/calling/.well-known/acsopenidconfiguration", config)
        app.router.add_get("/keys", keys)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return f"{self.url}/calling/.well-known/acsopenidconfiguration"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
