"""The ``model`` providers this plugin registers: one per configured router, under its name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from artagent.config import ConfigError, decode_section
from artagent.providers import ProviderSpec

from artagent_openai.config import TABLE, OpenAIConfig, RouterConfig, router_issues
from artagent_openai.router import OpenAIRouter

__all__ = ["router_specs"]


def router_specs(config: OpenAIConfig, secrets: Mapping[str, str]) -> list[ProviderSpec]:
    """A spec per router. Its factory hands every call the same router (one connection pool);
    settings given to the factory override the router's keys, for a router of their own."""
    specs = []
    for name, router_config in config.router_configs().items():
        router = OpenAIRouter(name, router_config, api_key=secrets.get(f"routers.{name}.api_key_env"))
        specs.append(
            ProviderSpec(
                kind="model", name=name, factory=_factory(router), description=_describe(router_config)
            )
        )
    return specs


def _factory(router: OpenAIRouter) -> Any:
    def build(settings: Mapping[str, Any]) -> OpenAIRouter:
        if not settings:
            return router
        path = f"{TABLE}.routers.{router.name}"
        merged = decode_section({**msgspec.structs.asdict(router.config), **settings}, RouterConfig, path)
        issues = router_issues(merged, path)
        if issues:
            raise ConfigError(issues)
        return router.with_config(merged)

    return build


def _describe(config: RouterConfig) -> str:
    where = config.endpoint or config.base_url or "api.openai.com"
    fallback = f", then {', '.join(config.fallback_models)}" if config.fallback_models else ""
    return f"{config.kind}: {config.default_model} at {where}{fallback}"
