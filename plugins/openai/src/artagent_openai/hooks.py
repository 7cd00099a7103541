"""Hook implementations of the openai plugin (only hooks live here)."""

from __future__ import annotations

from collections.abc import Mapping

from artagent.hookspecs import hookimpl
from artagent.providers import ProviderSpec

from artagent_openai.config import OpenAIConfig
from artagent_openai.providers import router_specs


@hookimpl
def plugin_config_schema() -> type[OpenAIConfig]:
    return OpenAIConfig


@hookimpl
def register_providers(config: OpenAIConfig, secrets: Mapping[str, str]) -> list[ProviderSpec]:
    return router_specs(config, secrets)
