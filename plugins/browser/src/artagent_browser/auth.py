"""Who may ask for a session token: anyone, whoever knows the password, or whoever brings a
bearer token from the deployment's OpenID Connect provider (checked with PyJWT against the
provider's JWKS: signature, issuer, audience, expiry).

Fetching keys from ``jwks_url`` is blocking (urllib): it runs in a worker thread and the keys
are cached, so the event loop never waits on the identity provider.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from pathlib import Path
from typing import Any

import jwt

from artagent_browser.config import BrowserConfig, OidcConfig

__all__ = ["AuthError", "Authenticator", "JwksKeys"]

log = logging.getLogger(__name__)


class AuthError(Exception):
    """The request may not have a token: ``status`` 401 (who are you?) or 503 (the identity
    provider's keys cannot be had); ``detail`` names what is wrong."""

    def __init__(self, detail: str, *, status: int = 401) -> None:
        super().__init__(detail)
        self.detail, self.status = detail, status


class JwksKeys:
    """The identity provider's signing keys, from its JWKS URL (cached) or a local file."""

    def __init__(self, config: OidcConfig) -> None:
        self._config = config
        self._client = (
            jwt.PyJWKClient(config.jwks_url, cache_keys=True, lifespan=int(config.jwks_cache_s), timeout=5)
            if config.jwks_url
            else None
        )
        self._file_keys: jwt.PyJWKSet | None = None

    async def key_for(self, token: str) -> Any:
        """The key that signed ``token`` (by its ``kid``)."""
        if self._client is not None:
            try:
                found = await asyncio.to_thread(self._client.get_signing_key_from_jwt, token)
            except jwt.PyJWKClientConnectionError as exc:
                log.warning("cannot fetch the identity provider's keys: %s", exc)
                raise AuthError("the identity provider's keys cannot be fetched now", status=503) from None
            except (jwt.PyJWKClientError, jwt.DecodeError) as exc:
                raise AuthError(f"bearer token: {exc}") from None
            return found.key
        return self._from_file(token)

    def _from_file(self, token: str) -> Any:
        if self._file_keys is None:
            self._file_keys = jwt.PyJWKSet.from_json(Path(self._config.jwks_file).read_text())
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.DecodeError as exc:
            raise AuthError(f"bearer token: {exc}") from None
        keys = self._file_keys.keys
        for candidate in keys:
            if candidate.key_id == kid or (kid is None and len(keys) == 1):
                return candidate.key
        raise AuthError(f"bearer token: no key with kid {kid!r} in the identity provider's keys")


class Authenticator:
    """Decides, for ``POST /api/v1/browser/sessions``, who is asking (``None``: anonymous)."""

    def __init__(self, config: BrowserConfig, *, password: str | None = None) -> None:
        self.mode = config.auth
        self._password = password or ""
        self._oidc = config.oidc
        self._keys = JwksKeys(config.oidc) if config.auth == "oidc" else None

    async def user(self, *, authorization: str | None, password: str | None) -> str | None:
        """The user the token is for; raises :class:`AuthError` when the request may not have one."""
        if self.mode == "password":
            if not password:
                raise AuthError("password: required to start a conversation")
            if not hmac.compare_digest(password.encode(), self._password.encode()):
                raise AuthError("password: wrong password")
            return None
        if self.mode == "oidc":
            return await self._bearer_user(authorization)
        return None

    async def _bearer_user(self, authorization: str | None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Authorization: a bearer token from the identity provider is required")
        token = token.strip()
        assert self._keys is not None
        key = await self._keys.key_for(token)
        oidc = self._oidc
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=oidc.algorithms,
                audience=oidc.audience,
                issuer=oidc.issuer,
                leeway=oidc.leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"bearer token: {exc}") from None
        user = claims.get(oidc.user_claim)
        if not isinstance(user, str) or not user:
            raise AuthError(f"bearer token: no {oidc.user_claim!r} claim naming the user")
        return user
