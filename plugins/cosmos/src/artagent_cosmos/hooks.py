"""Hook implementations of the Cosmos DB plugin (only hooks live here)."""

from __future__ import annotations

from collections.abc import Mapping

from artagent.history import StoreSpec
from artagent.hookspecs import hookimpl

from artagent_cosmos.config import CosmosConfig
from artagent_cosmos.factory import cosmos_store_factory


@hookimpl
def plugin_config_schema() -> type[CosmosConfig]:
    return CosmosConfig


@hookimpl
def register_stores(config: CosmosConfig, secrets: Mapping[str, str]) -> list[StoreSpec]:
    factory = cosmos_store_factory(config, secrets.get("key_env"))
    return [StoreSpec("cosmos", factory, description="Azure Cosmos DB for NoSQL")]
