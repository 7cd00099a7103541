"""Metrics counted from a call's events as they are emitted, whatever mode runs the call.

The pipeline and a realtime mode emit the same events, so counting them where they are
emitted (the call's :class:`~artagent.bus.outbox.CallEmitter`) covers both, with one dictionary
look-up per event and nothing per audio frame. Label values are bounded: agent names come from
the installed scenarios, stages and end reasons from the code, error kinds from exception
classes, tool names from the tool registry.

:class:`CallTelemetry` is what an emitter is given: the call's trace (the ``traceparent`` of each
event, span events) and these counters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from artagent.events import (
    AgentHandoff,
    AgentResponseGenerated,
    CallEnded,
    CallStarted,
    ErrorOccurred,
    EscalationRequested,
    Event,
    ToolCompleted,
)
from artagent.observability.calltrace import NO_TRACE, CallTrace

__all__ = ["CallMetrics", "CallTelemetry"]

_TOOL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class CallMetrics:
    """The worker's event-derived counters (one per runtime, shared by its calls)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        kw: dict[str, Any] = {"registry": registry}
        self.started = Counter("artagent_calls_started_total", "Calls started on this worker", **kw)
        self.ended = Counter("artagent_calls_ended_total", "Calls ended, by reason", ["reason"], **kw)
        self.turns = Counter(
            "artagent_turns_total", "Agent replies to a caller's turn (interrupted ones included)", **kw
        )
        self.handoffs = Counter(
            "artagent_handoffs_total", "Handoffs between agents", ["from_agent", "to_agent"], **kw
        )
        self.escalations = Counter(
            "artagent_escalations_total", "Requests for a human, by the agent that made them", ["agent"], **kw
        )
        self.errors = Counter(
            "artagent_errors_total", "error_occurred events, by stage and kind", ["stage", "kind"], **kw
        )
        self.tool_calls = Counter(
            "artagent_tool_calls_total", "Tool calls completed, by tool and result", ["tool", "ok"], **kw
        )
        self.tool_seconds = Histogram(
            "artagent_tool_duration_seconds", "Time a tool call took", ["tool"], buckets=_TOOL_BUCKETS, **kw
        )
        self._count: dict[type[Event], Callable[[Any], None]] = {
            CallStarted: lambda e: self.started.inc(),
            CallEnded: lambda e: self.ended.labels(e.reason or "unknown").inc(),
            AgentResponseGenerated: self._reply,
            AgentHandoff: lambda e: self.handoffs.labels(e.from_agent, e.to_agent).inc(),
            EscalationRequested: lambda e: self.escalations.labels(e.agent).inc(),
            ErrorOccurred: lambda e: self.errors.labels(e.stage, e.kind).inc(),
            ToolCompleted: self._tool,
        }

    def _reply(self, event: AgentResponseGenerated) -> None:
        if event.latency is not None:  # the first part of a reply to the caller's turn
            self.turns.inc()

    def _tool(self, event: ToolCompleted) -> None:
        self.tool_calls.labels(event.tool, "true" if event.ok else "false").inc()
        self.tool_seconds.labels(event.tool).observe(event.duration_ms / 1000)

    def count(self, event: Event) -> None:
        count = self._count.get(type(event))
        if count is not None:
            count(event)


class CallTelemetry:
    """What a call's emitter reports to: its trace and the worker's counters."""

    __slots__ = ("metrics", "trace")

    def __init__(self, trace: CallTrace = NO_TRACE, metrics: CallMetrics | None = None) -> None:
        self.trace, self.metrics = trace, metrics

    def traceparent(self) -> str | None:
        return self.trace.traceparent()

    def emitted(self, event: Event) -> None:
        self.trace.emitted(event)
        if self.metrics is not None:
            self.metrics.count(event)
