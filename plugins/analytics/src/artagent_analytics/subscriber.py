"""The bus subscriber: events in, Redis counters and Prometheus metrics out."""

from __future__ import annotations

from typing import Any

from artagent.bus import Subscription
from artagent.events import AgentResponseGenerated, Event
from prometheus_client import CollectorRegistry, Counter, Histogram

from artagent_analytics.config import AnalyticsConfig
from artagent_analytics.store import COUNTED, AnalyticsStore


class AnalyticsMetrics:
    """What this worker's analytics consumer has seen, exported at /metrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        kw: dict[str, Any] = {"registry": registry}
        self.events = Counter(
            "artagent_analytics_events", "Call events counted by analytics, by kind", ["kind"], **kw
        )
        self.turn_latency = Histogram(
            "artagent_analytics_turn_latency_seconds",
            "Caller speech end to first agent audio frame, per turn",
            buckets=(0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10),
            **kw,
        )

    def observe(self, events: list[Event]) -> None:
        for event in events:
            kind = COUNTED.get(event.type_tag())
            if kind:
                self.events.labels(kind).inc()
            if (
                isinstance(event, AgentResponseGenerated)
                and event.latency
                and event.latency.total_ms is not None
            ):
                self.turn_latency.observe(event.latency.total_ms / 1000)


def analytics_subscription(
    store: AnalyticsStore, metrics: AnalyticsMetrics, config: AnalyticsConfig
) -> Subscription:
    async def handle(events: list[Event]) -> None:
        await store.apply(events)
        metrics.observe(events)

    return Subscription(
        group=config.group,
        handler=handle,
        types=frozenset(COUNTED),
        start_at="oldest",
        description="Per-call and global call analytics (artagent-analytics).",
    )
