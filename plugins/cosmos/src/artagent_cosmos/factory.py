"""Building the ``cosmos`` store from ``[plugins.cosmos]``, checked only when it is chosen.

The Azure SDK is imported when the store is built, not when the plugin is loaded, so commands
that do not use Cosmos DB (``artagent plugins``, a SQLite history) do not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from artagent.config import ConfigError, ConfigIssue
from artagent.history import StoreContext

from artagent_cosmos.config import CosmosConfig

if TYPE_CHECKING:
    from artagent_cosmos.store import CosmosHistoryStore

__all__ = ["cosmos_store_factory"]


def cosmos_store_factory(
    config: CosmosConfig, key: str | None
) -> Callable[[StoreContext], CosmosHistoryStore]:
    def build(context: StoreContext) -> CosmosHistoryStore:
        if not config.endpoint:
            raise ConfigError(
                [ConfigIssue("plugins.cosmos.endpoint", 'required when [history] store = "cosmos"')]
            )
        if not config.endpoint.startswith(("https://", "http://")):
            raise ConfigError([ConfigIssue("plugins.cosmos.endpoint", "must be an https:// URL")])
        if key is None and not config.endpoint.startswith("https://"):
            issue = "must be https:// to sign in with Entra ID (or set key_env)"
            raise ConfigError([ConfigIssue("plugins.cosmos.endpoint", issue)])
        from artagent_cosmos.store import CosmosHistoryStore

        return CosmosHistoryStore(
            config, key=key, retention_s=context.retention_s, max_events=context.max_events
        )

    return build
