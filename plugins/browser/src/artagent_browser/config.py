"""``[plugins.browser]``: who may open a conversation from the page, and what one may send."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from artagent.config import ConfigError, ConfigIssue

__all__ = ["TABLE", "AuthMode", "BrowserConfig", "LimitsConfig", "OidcConfig"]

TABLE = "plugins.browser"
AuthMode = Literal["none", "password", "oidc"]
Positive = Annotated[float, msgspec.Meta(gt=0)]


class OidcConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How a bearer token from your identity provider is checked (``auth = "oidc"``)."""

    issuer: str = ""
    """The ``iss`` the token must carry, e.g. ``https://login.microsoftonline.com/<tenant>/v2.0``."""
    audience: str = ""
    """The ``aud`` the token must carry: your app's client id or API URI."""
    jwks_url: str = ""
    """Where the provider publishes its signing keys (the ``jwks_uri`` of its discovery document)."""
    jwks_file: str = ""
    """A local JWKS file instead of ``jwks_url`` (relative to the working directory)."""
    algorithms: list[str] = msgspec.field(default_factory=lambda: ["RS256"])
    """Signature algorithms accepted; never ``none``."""
    leeway_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    """Clock skew tolerated on ``exp`` and ``nbf``, in seconds."""
    user_claim: str = "sub"
    """The claim naming the user, shown as the call's caller."""
    jwks_cache_s: Positive = 300.0
    """How long keys fetched from ``jwks_url`` are kept before they are fetched again."""


class LimitsConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What one WebSocket connection may send; past it the connection is closed with a code and
    a reason (other conversations never notice)."""

    max_message_bytes: Annotated[int, msgspec.Meta(ge=640)] = 16_384
    """Largest WebSocket message accepted (binary audio or JSON), in bytes (close 1009)."""
    max_messages_per_s: Positive = 100.0
    """Messages per second sustained (the page sends 50 audio frames a second; close 1008)."""
    burst: Annotated[int, msgspec.Meta(ge=1)] = 200
    """Messages accepted at once above the sustained rate (a page catching up after a stall)."""
    max_text_chars: Annotated[int, msgspec.Meta(ge=1)] = 2_000
    """Longest typed turn, in characters (close 1007)."""
    max_pending_frames: Annotated[int, msgspec.Meta(ge=10)] = 1_500
    """Messages waiting to be sent to a page that does not read them (30 s of audio); past it
    the connection is closed (1008)."""


class BrowserConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[plugins.browser]``."""

    page: bool = True
    """Serve the page at ``/``."""
    auth: AuthMode = "none"
    """Who may get a session token: anyone who reaches the page, whoever knows the password, or
    whoever brings a valid OIDC bearer token."""
    password_env: str = ""
    """Environment variable holding the password (``auth = "password"``)."""
    secret_env: str = ""
    """Environment variable holding the key session tokens are signed with. Empty: a random key
    per worker, so a token only opens a conversation on the worker that issued it (set it when
    several workers sit behind one address)."""
    token_ttl_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0
    """How long a session token may wait before its WebSocket opens; each token opens one."""
    history_ttl_s: Annotated[float, msgspec.Meta(gt=0, le=7 * 86_400)] = 86_400.0
    """How long the page may show its own call from the history: the lifetime of the view token
    that comes with each session token (the operator routes may need a token the page lacks)."""
    oidc: OidcConfig = msgspec.field(default_factory=OidcConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)

    def __post_init__(self) -> None:
        # A ConfigError passes through msgspec untouched, so each issue keeps its own key path.
        issues = _auth_issues(self)
        if issues:
            raise ConfigError(issues)


def _auth_issues(config: BrowserConfig) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    if config.auth == "password" and not config.password_env:
        issues.append(ConfigIssue(f"{TABLE}.password_env", 'required when auth = "password"'))
    if config.auth != "oidc":
        return issues
    oidc, path = config.oidc, f"{TABLE}.oidc"
    for key in ("issuer", "audience"):
        if not getattr(oidc, key):
            issues.append(ConfigIssue(f"{path}.{key}", 'required when auth = "oidc"'))
    if bool(oidc.jwks_url) == bool(oidc.jwks_file):
        issues.append(ConfigIssue(f"{path}.jwks_url", "give exactly one of jwks_url and jwks_file"))
    if oidc.jwks_url and not oidc.jwks_url.startswith(("https://", "http://")):
        issues.append(ConfigIssue(f"{path}.jwks_url", f"must be an https:// URL, not {oidc.jwks_url!r}"))
    if not oidc.algorithms or any(a.lower() == "none" or a.startswith("HS") for a in oidc.algorithms):
        issues.append(ConfigIssue(f"{path}.algorithms", "list asymmetric algorithms such as RS256 or ES256"))
    return issues
