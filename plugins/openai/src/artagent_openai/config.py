"""The ``[plugins.openai]`` table: named routers, each a ``model`` provider of its own.

Router names are the user's own (``[plugins.openai.routers.azure]``), and msgspec names a bad
key inside a dict only as ``routers[...]``. So the table keeps each router's raw mapping at first
and decodes them one by one after, which lets every error name its full dotted key, such as
``plugins.openai.routers.azure.api_version``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from artagent.config import ConfigError, ConfigIssue, decode_section

__all__ = ["TABLE", "OpenAIConfig", "RouterConfig", "RouterKind"]

TABLE = "plugins.openai"
RouterKind = Literal["openai", "azure", "compatible"]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
Backoff = Annotated[float, msgspec.Meta(ge=0)]


class RouterConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One router: which service, which model, how long to wait, what to try next."""

    kind: RouterKind = "openai"
    """``openai`` (api.openai.com), ``azure`` (Azure OpenAI) or ``compatible`` (any server that
    speaks the chat completions API: Ollama, vLLM, llama.cpp, LiteLLM, ...)."""
    model: str = ""
    """The model asked for (``openai``, ``compatible``); an agent's own model setting wins."""
    deployment: str = ""
    """The Azure OpenAI deployment (``azure``); an agent's own model setting wins."""
    base_url: str = ""
    """The API's base URL, ending in ``/v1`` (required for ``compatible``; for ``openai``, a proxy)."""
    endpoint: str = ""
    """The Azure OpenAI resource, ``https://<resource>.openai.azure.com`` (``azure``)."""
    api_version: str = ""
    """The Azure OpenAI API version, such as ``2024-10-21`` (``azure``)."""
    api_key_env: str = ""
    """Name of the environment variable holding the API key. Required for ``openai``; for
    ``azure`` without it, a Microsoft Entra ID token is used (DefaultAzureCredential); optional
    for ``compatible``."""
    entra_scope: str = "https://cognitiveservices.azure.com/.default"
    """The scope Entra ID tokens are asked for (``azure`` without a key)."""
    timeout_s: Seconds = 30.0
    """The whole response at most, every retry and fallback included."""
    first_token_timeout_s: Seconds = 10.0
    """From sending a request to its first token (or tool-call fragment); also the longest
    silence allowed between two chunks. Past it, the next model is tried."""
    connect_timeout_s: Seconds = 5.0
    """Opening the connection (TCP and TLS)."""
    max_retries: Annotated[int, msgspec.Meta(ge=0)] = 2
    """Retries of one model after HTTP 429, 5xx or a dropped connection, before the next model."""
    retry_backoff_s: Backoff = 0.5
    """First wait before a retry; doubled each time (a Retry-After header wins)."""
    retry_max_backoff_s: Backoff = 8.0
    """Longest wait between two retries computed by backoff."""
    fallback_models: list[str] = msgspec.field(default_factory=list)
    """Models (deployments on Azure) tried in order when the one asked for fails or times out."""
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    """Default sampling temperature; unset: not sent (the agent's setting wins)."""
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    """Default nucleus sampling; unset: not sent (the agent's setting wins)."""
    max_tokens: Annotated[int, msgspec.Meta(gt=0)] | None = None
    """Default cap on the reply's tokens; unset: not sent (the agent's setting wins)."""
    max_tokens_param: Literal["", "max_tokens", "max_completion_tokens"] = ""
    """The request field the token cap is sent as; empty: ``max_completion_tokens`` for
    ``openai`` (its reasoning models refuse ``max_tokens``), ``max_tokens`` otherwise."""
    stream_usage: bool = True
    """Ask for token usage at the end of the stream (``stream_options.include_usage``); turn it
    off for an old server that refuses the option."""
    extra_body: dict[str, Any] = msgspec.field(default_factory=dict)
    """Extra fields sent in every request body as they are (e.g. Ollama's ``options``)."""

    @property
    def default_model(self) -> str:
        return self.deployment if self.kind == "azure" else self.model

    @property
    def token_field(self) -> str:
        if self.max_tokens_param:
            return self.max_tokens_param
        return "max_completion_tokens" if self.kind == "openai" else "max_tokens"


_REQUIRED: dict[str, tuple[str, ...]] = {
    "openai": ("model",),
    "azure": ("endpoint", "deployment", "api_version"),
    "compatible": ("base_url", "model"),
}
_FOREIGN: dict[str, tuple[str, ...]] = {
    "openai": ("deployment", "endpoint", "api_version"),
    "azure": ("model", "base_url"),
    "compatible": ("deployment", "endpoint", "api_version"),
}


def router_issues(router: RouterConfig, path: str) -> list[ConfigIssue]:
    """What a router that decoded still gets wrong: keys its kind needs or does not take."""
    issues = [
        ConfigIssue(f"{path}.{key}", f'required when kind = "{router.kind}"')
        for key in _REQUIRED[router.kind]
        if not getattr(router, key)
    ]
    issues += [
        ConfigIssue(f"{path}.{key}", f'not used when kind = "{router.kind}"')
        for key in _FOREIGN[router.kind]
        if getattr(router, key)
    ]
    for key in ("base_url", "endpoint"):
        value: str = getattr(router, key)
        if value and not value.startswith(("http://", "https://")):
            issues.append(ConfigIssue(f"{path}.{key}", f"must be an http:// or https:// URL, not {value!r}"))
    if router.first_token_timeout_s > router.timeout_s:
        issues.append(ConfigIssue(f"{path}.first_token_timeout_s", "must not exceed timeout_s"))
    if any(not model for model in router.fallback_models):
        issues.append(ConfigIssue(f"{path}.fallback_models", "must not contain an empty name"))
    return issues


class OpenAIConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[plugins.openai]``: no router by default, so the runtime stays offline."""

    routers: dict[str, Any] = msgspec.field(default_factory=dict)
    """Routers by name (``[plugins.openai.routers.<name>]``); each is registered as the
    ``model`` provider of that name."""

    def __post_init__(self) -> None:
        # A ConfigError (not a ValueError) passes through msgspec untouched, so core reports
        # these issues with their own paths.
        decoded: dict[str, RouterConfig] = {}
        issues: list[ConfigIssue] = []
        for name, raw in self.routers.items():
            path = f"{TABLE}.routers.{name}"
            if not isinstance(raw, dict):
                issues.append(ConfigIssue(path, f"must be a table, not {type(raw).__name__}"))
                continue
            try:
                decoded[name] = decode_section(raw, RouterConfig, path)
            except ConfigError as error:
                issues += error.issues
                continue
            issues += router_issues(decoded[name], path)
        if issues:
            raise ConfigError(issues)
        self.routers = decoded

    def router_configs(self) -> dict[str, RouterConfig]:
        """The decoded routers, by name."""
        return dict(self.routers)
