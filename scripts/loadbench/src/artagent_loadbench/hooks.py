"""Hook implementations of the bench-only plugin (only hooks live here)."""

from __future__ import annotations

from artagent.hookspecs import hookimpl
from artagent.providers import ProviderSpec

from artagent_loadbench.config import LoadBenchConfig


@hookimpl
def plugin_config_schema() -> type[LoadBenchConfig]:
    return LoadBenchConfig


@hookimpl
def register_providers(config: LoadBenchConfig) -> list[ProviderSpec]:
    from artagent_loadbench.factories import specs

    return specs(config)
