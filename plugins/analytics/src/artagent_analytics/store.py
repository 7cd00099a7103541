"""Analytics state in Redis: one hash per call, one global summary hash, recent latencies.

Writes for a whole batch of events go out in one pipelined round trip. The bus delivers each
event to this consumer group once (it drops redelivered event ids), so plain increments are
exact.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import msgspec
from artagent.events import AgentResponseGenerated, CallEnded, CallStarted, Event
from artagent.workers import LiveWorkers
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from artagent_analytics.config import AnalyticsConfig

COUNTED: dict[str, str] = {
    "call_started": "calls_started",
    "call_ended": "calls_ended",
    "agent_response_generated": "turns",
    "playback_interrupted": "barge_ins",
    "agent_handoff": "handoffs",
    "tool_called": "tool_calls",
    "escalation_requested": "escalations",
    "error_occurred": "errors",
}
"""Event type -> the counter it increments, per call and globally."""


class LatencySummary(msgspec.Struct, kw_only=True):
    """Per-turn latency (caller speech end to first agent audio) in milliseconds."""

    turns: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    mean_ms: float | None = None
    max_ms: float | None = None

    @classmethod
    def of(cls, samples: Sequence[float]) -> LatencySummary:
        if not samples:
            return cls()
        ordered = sorted(samples)
        return cls(
            turns=len(ordered),
            p50_ms=round(statistics.median(ordered), 1),
            p95_ms=round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 1),
            mean_ms=round(statistics.fmean(ordered), 1),
            max_ms=round(ordered[-1], 1),
        )


class Counts(msgspec.Struct, kw_only=True):
    calls_started: int = 0
    calls_ended: int = 0
    turns: int = 0
    barge_ins: int = 0
    handoffs: int = 0
    tool_calls: int = 0
    escalations: int = 0
    errors: int = 0


class CallAnalytics(msgspec.Struct, kw_only=True):
    call_id: str
    channel: str = ""
    scenario: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    duration_ms: float | None = None
    outcome: str | None = None
    end_reason: str | None = None
    turns: int = 0
    barge_ins: int = 0
    handoffs: int = 0
    tool_calls: int = 0
    escalations: int = 0
    errors: int = 0
    latency: LatencySummary = msgspec.field(default_factory=LatencySummary)


class Summary(Counts, kw_only=True):
    active_calls: int = 0
    """Calls the deployment's live workers carry now (each worker's own count, from the worker
    registry in Redis: a worker that died stops counting within [runtime] heartbeat_ttl_s)."""
    workers: int = 0
    """Live workers."""
    outcomes: dict[str, int] = msgspec.field(default_factory=dict)
    latency: LatencySummary = msgspec.field(default_factory=LatencySummary)


def _text(raw: dict[bytes, bytes], key: str) -> str | None:
    value = raw.get(key.encode())
    return value.decode() if value is not None else None


class AnalyticsStore:
    def __init__(self, redis: Redis, config: AnalyticsConfig, *, workers: LiveWorkers | None = None) -> None:
        self.redis = redis
        self.config = config
        self.prefix = config.key_prefix
        self.workers = workers

    def _call_key(self, call_id: str) -> str:
        return f"{self.prefix}:call:{call_id}"

    async def apply(self, events: Sequence[Event]) -> None:
        """Record a batch of events (one round trip)."""
        pipe = self.redis.pipeline(transaction=False)
        summary = f"{self.prefix}:summary"
        touched: set[str] = set()
        for event in events:
            key = self._call_key(event.call_id)
            touched.add(event.call_id)
            counter = COUNTED.get(event.type_tag())
            if counter:
                pipe.hincrby(key, counter, 1)
                pipe.hincrby(summary, counter, 1)
            self._apply_details(pipe, key, summary, event)
        for call_id in touched:
            pipe.expire(self._call_key(call_id), self.config.call_ttl_s)
            pipe.expire(f"{self._call_key(call_id)}:latency", self.config.call_ttl_s)
        await pipe.execute()

    def _apply_details(self, pipe: Pipeline, key: str, summary: str, event: Event) -> None:
        if isinstance(event, CallStarted):
            fields = {"channel": event.channel, "started_at": event.occurred_at.isoformat()}
            if event.scenario:
                fields["scenario"] = event.scenario
            pipe.hset(key, mapping=fields)
        elif isinstance(event, CallEnded):
            fields = {
                "ended_at": event.occurred_at.isoformat(),
                "duration_ms": str(event.duration_ms),
                "outcome": event.outcome,
                "end_reason": event.reason,
            }
            pipe.hset(key, mapping=fields)
            pipe.hincrby(summary, f"outcome:{event.outcome or 'unknown'}", 1)
        elif (
            isinstance(event, AgentResponseGenerated) and event.latency and event.latency.total_ms is not None
        ):
            total = event.latency.total_ms
            pipe.rpush(f"{key}:latency", total)
            pipe.lpush(f"{self.prefix}:latency", total)
            pipe.ltrim(f"{self.prefix}:latency", 0, self.config.latency_window - 1)

    async def call(self, call_id: str) -> CallAnalytics | None:
        key = self._call_key(call_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(key)
        pipe.lrange(f"{key}:latency", 0, -1)
        raw, latencies = await pipe.execute()
        if not raw:
            return None
        counts = {
            name: int(raw.get(name.encode(), 0)) for name in COUNTED.values() if not name.startswith("calls_")
        }
        duration = _text(raw, "duration_ms")
        return CallAnalytics(
            call_id=call_id,
            channel=_text(raw, "channel") or "",
            scenario=_text(raw, "scenario"),
            started_at=_text(raw, "started_at"),
            ended_at=_text(raw, "ended_at"),
            duration_ms=float(duration) if duration is not None else None,
            outcome=_text(raw, "outcome"),
            end_reason=_text(raw, "end_reason"),
            latency=LatencySummary.of([float(x) for x in latencies]),
            **counts,
        )

    async def summary(self) -> Summary:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(f"{self.prefix}:summary")
        pipe.lrange(f"{self.prefix}:latency", 0, -1)
        raw, latencies = await pipe.execute()
        values: dict[str, Any] = {k.decode(): int(v) for k, v in raw.items()}
        counts = {name: values.get(name, 0) for name in COUNTED.values()}
        outcomes = {k.split(":", 1)[1]: v for k, v in values.items() if k.startswith("outcome:")}
        # Not calls_started - calls_ended: a worker killed mid-call never publishes call_ended.
        live = await self.workers.status() if self.workers is not None else {}
        return Summary(
            **counts,
            active_calls=sum(w.active_calls for w in live.values()),
            workers=len(live),
            outcomes=outcomes,
            latency=LatencySummary.of([float(x) for x in latencies]),
        )
