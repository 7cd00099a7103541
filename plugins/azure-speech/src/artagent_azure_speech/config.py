"""The ``[plugins.azure_speech]`` table.

Checks that span several keys (which of region, endpoint and host; what Entra ID needs) raise
:class:`~artagent.config.ConfigError` from ``__post_init__``: msgspec lets it through, and the
runtime reports it with the dotted key like any other configuration error.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec
from artagent.config import ConfigError, ConfigIssue

__all__ = ["OUTPUT_RATES", "PLUGIN", "AzureSpeechConfig"]

PLUGIN = "azure_speech"
"""The entry point's name, which names the table."""

OutputRate = Literal[8000, 16000, 22050, 24000, 44100, 48000]
OUTPUT_RATES: tuple[int, ...] = (8000, 16000, 22050, 24000, 44100, 48000)
"""Sample rates Azure synthesizes raw 16-bit mono PCM at."""

_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})+$")
MAX_CONTINUOUS_LANGUAGES = 10


class AzureSpeechConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    region: str = ""
    """Azure region of the Speech resource (e.g. "swedencentral"). Set one of region, endpoint or
    host; with none of them the plugin registers no provider (the embedded defaults stay in use)."""
    endpoint: str = ""
    """The resource's custom-domain endpoint, https://<name>.cognitiveservices.azure.com/ (the
    way to use Entra ID without ``resource_id``)."""
    host: str = ""
    """ws://host:port of a Speech container on your own machines (standard paths, usually no key)."""
    key_env: str | None = None
    """Environment variable holding the resource key; unset: Entra ID through azure-identity's
    DefaultAzureCredential (managed identity, workload identity, az login, ...)."""
    resource_id: str = ""
    """ARM id of the Speech resource (/subscriptions/.../accounts/<name>): Entra ID with a region
    needs it, since the service then expects an "aad#<resource id>#<token>" authorization token."""
    token_refresh_s: Annotated[float, msgspec.Meta(ge=60)] = 300.0
    """With Entra ID, a token is renewed this long before it expires."""
    languages: list[str] = msgspec.field(default_factory=lambda: ["en-US"])
    """Recognition locales. One: recognition in it. Several (up to 10): continuous language
    identification among them, each result saying which was heard."""
    phrases: list[str] = msgspec.field(default_factory=list)
    """Phrase list: names, product words, policy-number formats the recogniser should favour."""
    segmentation_silence_ms: Annotated[int, msgspec.Meta(ge=100, le=5000)] | None = None
    """Silence after which Azure ends a phrase (a final result); unset: the service default."""
    final_timeout_ms: Annotated[int, msgspec.Meta(ge=100, le=10_000)] = 1500
    """After the VAD saw the caller stop, how long to wait for Azure's final result before
    reporting an empty one (so a turn never waits forever on noise Azure ignored)."""
    voice: str = "en-US-AvaMultilingualNeural"
    """Voice used when the agent's voice names none."""
    output_rate: OutputRate = 16000
    """Sample rate of synthesized audio (the session converts it to its own rate if different)."""
    synthesizers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4
    """Syntheses that may run at once on this worker (each keeps one connection open)."""
    executor_threads: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4
    """Threads for the SDK's blocking calls (starting and stopping recognition and synthesis)."""

    def __post_init__(self) -> None:
        issues = self._connection_issues() + self._language_issues()
        if issues:
            raise ConfigError(issues)

    @property
    def configured(self) -> bool:
        return bool(self.region or self.endpoint or self.host)

    @property
    def uses_entra_id(self) -> bool:
        """No key and not a container: tokens come from azure-identity."""
        return self.key_env is None and not self.host

    def _connection_issues(self) -> list[ConfigIssue]:
        given = [k for k in ("region", "endpoint", "host") if getattr(self, k)]
        issues: list[ConfigIssue] = []
        if len(given) > 1:
            issues.append(
                _issue(given[1], f"set only one of region, endpoint and host (got {', '.join(given)})")
            )
        if self.endpoint and not self.endpoint.startswith(("https://", "wss://")):
            issues.append(_issue("endpoint", "must be an https:// or wss:// URL"))
        if self.host and not self.host.startswith(("ws://", "wss://")):
            issues.append(_issue("host", "must be a ws:// or wss:// address such as ws://localhost:5000"))
        if self.region and self.uses_entra_id and not self.resource_id:
            issues.append(
                _issue(
                    "resource_id",
                    "Entra ID with a region needs the Speech resource's ARM id "
                    "(or set endpoint to its custom domain, or key_env for a key)",
                )
            )
        return issues

    def _language_issues(self) -> list[ConfigIssue]:
        issues = [
            _issue(f"languages[{i}]", f"{lang!r} is not a locale such as en-US")
            for i, lang in enumerate(self.languages)
            if not _LOCALE.match(lang)
        ]
        if not self.languages:
            issues.append(_issue("languages", "name at least one locale, such as en-US"))
        if len(self.languages) > MAX_CONTINUOUS_LANGUAGES:
            issues.append(
                _issue("languages", f"at most {MAX_CONTINUOUS_LANGUAGES} for continuous identification")
            )
        return issues


def _issue(key: str, message: str) -> ConfigIssue:
    return ConfigIssue(f"plugins.{PLUGIN}.{key}", message)
