"""Hook implementations of the browser plugin (only hooks live here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from artagent.hookspecs import hookimpl
from redis.asyncio import Redis

from artagent_browser.config import BrowserConfig
from artagent_browser.routes import browser_routes
from artagent_browser.service import BrowserService


@hookimpl
def plugin_config_schema() -> type[BrowserConfig]:
    return BrowserConfig


@hookimpl
def register_routes(config: BrowserConfig, secrets: Mapping[str, str], redis: Redis) -> list[Any]:
    return browser_routes(BrowserService.build(config, secrets, redis))
