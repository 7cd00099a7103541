"""Hook implementations of the analytics plugin (only hooks live here)."""

from __future__ import annotations

from typing import Any

from artagent.bus import Subscription
from artagent.hookspecs import hookimpl
from artagent.workers import LiveWorkers
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from artagent_analytics.config import AnalyticsConfig
from artagent_analytics.routes import analytics_router
from artagent_analytics.store import AnalyticsStore
from artagent_analytics.subscriber import AnalyticsMetrics, analytics_subscription


@hookimpl
def plugin_config_schema() -> type[AnalyticsConfig]:
    return AnalyticsConfig


@hookimpl
def register_subscribers(
    config: AnalyticsConfig, redis: Redis, metrics: CollectorRegistry
) -> list[Subscription]:
    return [analytics_subscription(AnalyticsStore(redis, config), AnalyticsMetrics(metrics), config)]


@hookimpl
def register_routes(config: AnalyticsConfig, redis: Redis, workers: LiveWorkers) -> list[Any]:
    return [analytics_router(AnalyticsStore(redis, config, workers=workers))]
