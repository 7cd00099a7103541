"""Checking that a request comes from ACS: its JWT, signed with keys from its OpenID configuration.

Call Automation puts a JWT in ``Authorization: Bearer`` on every callback and on the media
WebSocket's handshake. Its keys are published at the ``jwks_uri`` of ACS's OpenID
configuration; they are fetched once, and again (at most every ``refresh_s``) when a token
names a key id we do not know (ACS rotated its keys).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import jwt

__all__ = ["AcsJwtValidator"]

log = logging.getLogger(__name__)


class AcsJwtValidator:
    def __init__(
        self,
        openid_config_url: str,
        audience: str,
        *,
        issuer: str = "",
        refresh_s: float = 60.0,
        timeout_s: float = 10.0,
    ) -> None:
        self.openid_config_url, self.audience, self._issuer = openid_config_url, audience, issuer
        self._refresh_s, self._timeout_s = refresh_s, timeout_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -float("inf")
        self._lock = asyncio.Lock()

    async def _fetch(self) -> None:
        async with httpx.AsyncClient(timeout=self._timeout_s) as client:
            config = (await client.get(self.openid_config_url)).raise_for_status().json()
            jwks = (await client.get(config["jwks_uri"])).raise_for_status().json()
        keys: dict[str, jwt.PyJWK] = {}
        for raw in jwks.get("keys", []):
            try:
                key = jwt.PyJWK(raw)
            except jwt.PyJWTError:
                continue  # a key type we cannot use
            keys[str(raw.get("kid", ""))] = key
        self._keys = keys
        self._issuer = self._issuer or str(config.get("issuer", ""))

    async def _key(self, kid: str) -> jwt.PyJWK | None:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at >= self._refresh_s:
                self._fetched_at = time.monotonic()
                try:
                    await self._fetch()
                except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                    log.warning("cannot fetch ACS signing keys from %s: %s", self.openid_config_url, exc)
        return self._keys.get(kid)

    async def check(self, authorization: str | None) -> str | None:
        """``None`` when ``authorization`` holds a valid ACS token, else why it does not."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "missing bearer token"
        try:
            header: dict[str, Any] = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return "malformed bearer token"
        key = await self._key(str(header.get("kid", "")))
        if key is None:
            return "bearer token signed by an unknown key"
        try:
            jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name] if key.algorithm_name else ["RS256"],
                audience=self.audience,
                issuer=self._issuer or None,
                options={"require": ["exp", "aud"]},
            )
        except jwt.PyJWTError as exc:
            return f"invalid bearer token: {exc}"
        return None
