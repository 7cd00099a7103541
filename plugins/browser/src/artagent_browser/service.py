"""What the browser plugin's routes share: its settings, the token issuer and the authenticator."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from redis.asyncio import Redis

from artagent_browser.auth import Authenticator
from artagent_browser.config import BrowserConfig
from artagent_browser.tokens import SessionTokens

__all__ = ["BrowserService"]


@dataclass(frozen=True)
class BrowserService:
    config: BrowserConfig
    tokens: SessionTokens
    auth: Authenticator

    @classmethod
    def build(cls, config: BrowserConfig, secrets: Mapping[str, str], redis: Redis) -> BrowserService:
        """From ``[plugins.browser]`` and its secrets (``password_env``, ``secret_env``)."""
        key = secrets.get("secret_env")
        # Any secret, however short, becomes a full 256-bit HMAC key.
        signing = hashlib.sha256(b"artagent-browser-session:" + key.encode()).digest() if key else None
        tokens = SessionTokens(
            redis, key=signing, ttl_s=config.token_ttl_s, view_ttl_s=config.history_ttl_s
        )
        return cls(config, tokens, Authenticator(config, password=secrets.get("password_env")))
