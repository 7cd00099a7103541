"""Who may read the operator APIs: the call history, analytics, claims, metrics and the like.

These routes show what callers said (names, ZIP codes, policy numbers), so a deployment that is
reachable from outside protects them with a bearer token: ``[server] api_token_env`` names the
environment variable holding it, and every operator route then answers 401 without it.
``/metrics`` (and the analytics summary, counts only) also takes its own token (``[server]
metrics_token_env``), so a Prometheus scraper or an autoscaler need not hold the token that
reads transcripts. With neither set (the embedded default, on
loopback) the routes are open, as before.

Plugins protect their own read routes the same way, through core's public guards:

    from artagent.access import operator_guard
    Router("/api/v1/myplugin", route_handlers=[...], guards=[operator_guard])

``/health`` and ``/readiness`` stay open (probes carry no token), and channels keep their own
authentication (ACS signatures, the browser's session tokens).
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from artagent.config import LoadedConfig

__all__ = ["ApiAccess", "Scope", "bearer_token", "metrics_guard", "operator_guard"]

Scope = Literal["api", "metrics"]
_CHALLENGE = {"www-authenticate": 'Bearer realm="artagent"'}


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or ``None``."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class ApiAccess:
    """The tokens this worker's operator routes require (none: the routes are open)."""

    def __init__(self, *, api_token: str | None = None, metrics_token: str | None = None) -> None:
        self._api = api_token or None
        self._metrics = metrics_token or None

    @classmethod
    def from_config(cls, loaded: LoadedConfig) -> ApiAccess:
        return cls(
            api_token=loaded.secret("server.api_token_env"),
            metrics_token=loaded.secret("server.metrics_token_env"),
        )

    def accepted(self, scope: Scope) -> list[tuple[str, str]]:
        """(token, the key naming it) of every token that opens ``scope``; empty: it is open."""
        tokens = [(self._api, "[server] api_token_env")]
        if scope == "metrics":
            tokens.insert(0, (self._metrics, "[server] metrics_token_env"))
        return [(token, key) for token, key in tokens if token]

    def is_open(self, scope: Scope) -> bool:
        return not self.accepted(scope)

    def check(self, authorization: str | None, scope: Scope = "api") -> None:
        """Return when the header opens ``scope``; raise a 401 naming what is wrong otherwise."""
        accepted = self.accepted(scope)
        if not accepted:
            return
        given = bearer_token(authorization)
        names = " or ".join(key for _, key in accepted)
        if given is None:
            raise NotAuthorizedException(
                detail=f"Authorization: a bearer token is required (the token of {names})",
                headers=_CHALLENGE,
            )
        # Compare with every accepted token, whatever matches first, so timing tells nothing.
        matches = [hmac.compare_digest(given.encode(), token.encode()) for token, _ in accepted]
        if not any(matches):
            raise NotAuthorizedException(
                detail=f"Authorization: the bearer token is not valid (expected the token of {names})",
                headers=_CHALLENGE,
            )


def _access(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiAccess:
    access: ApiAccess = connection.app.state.runtime.access
    return access


def operator_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Litestar guard for operator and read routes: the ``[server] api_token_env`` token."""
    _access(connection).check(connection.headers.get("authorization"), "api")


def metrics_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Litestar guard for ``/metrics`` and other counts without call data (the analytics
    summary an autoscaler reads): the metrics token or the API token."""
    _access(connection).check(connection.headers.get("authorization"), "metrics")
