"""The worker's tracer: one per runtime (``runtime.tracing``), handed to whatever traces.

Built from ``[observability]`` by :func:`artagent.observability.export.tracing_from_config`, or
given by a test (an SDK provider with an in-memory exporter). Nothing here sets
OpenTelemetry's global tracer provider: each runtime holds its own, like its metrics registry.

Trace context crosses the bus inside each event: ``traceparent`` (W3C Trace Context) names the
span that was current when the event was emitted. A subscriber handling a batch gets one
``process`` span (:meth:`Tracing.consuming`), linked to the context of every event in the batch
and, when they all belong to one trace, a child of the last of them: a subscriber in another
process continues the call's trace, and a batch mixing calls is found from each of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, SpanKind, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from artagent.events import Event
from artagent.observability.calltrace import NO_TRACE, CallTrace
from artagent.observability.recording import RecordingCallTrace, set_error
from artagent.session.playout import Clock

__all__ = ["MAX_LINKS", "Tracing", "event_context"]

MAX_LINKS = 128
"""Links a ``process`` span keeps (the SDK's default limit): one per distinct span of a batch."""
_PROPAGATOR = TraceContextTextMapPropagator()
_NO_CONTEXT: AbstractContextManager[None] = nullcontext()


def event_context(event: Event) -> SpanContext | None:
    """The span context an event's ``traceparent`` names (``None``: none, or not valid)."""
    if not event.traceparent:
        return None
    context = trace.get_current_span(_PROPAGATOR.extract({"traceparent": event.traceparent}))
    span_context = context.get_span_context()
    return span_context if span_context.is_valid else None


class Tracing:
    """The worker's tracer; ``provider=None`` (no ``otlp_endpoint``): nothing is traced."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.provider = provider
        self.tracer: Tracer | None = provider.get_tracer("artagent") if provider is not None else None

    @property
    def enabled(self) -> bool:
        return self.tracer is not None

    def call(self, call_id: str, clock: Clock, **attributes: str | bool | int | float) -> CallTrace:
        """The trace of one call on ``clock`` (its span starts with :meth:`CallTrace.active`)."""
        if self.tracer is None:
            return NO_TRACE
        return RecordingCallTrace(self.tracer, call_id, clock, attributes)

    def consuming(self, group: str, stream: str, events: Sequence[Event]) -> AbstractContextManager[None]:
        """A subscriber's handling of one batch, as a ``process`` span current for the block."""
        if self.tracer is None:
            return _NO_CONTEXT
        return self._consuming(self.tracer, group, stream, events)

    @contextmanager
    def _consuming(self, tracer: Tracer, group: str, stream: str, events: Sequence[Event]) -> Iterator[None]:
        contexts: dict[int, SpanContext] = {}
        for event in events:
            context = event_context(event)
            if context is not None and len(contexts) < MAX_LINKS:
                contexts.setdefault(context.span_id, context)
        traces = {context.trace_id for context in contexts.values()}
        parent = None
        if len(traces) == 1:  # one call's events: continue its trace
            parent = trace.set_span_in_context(trace.NonRecordingSpan(list(contexts.values())[-1]))
        attributes: dict[str, Any] = {
            "messaging.system": "redis",
            "messaging.operation.type": "process",
            "messaging.destination.name": stream,
            "messaging.consumer.group.name": group,
            "messaging.batch.message_count": len(events),
        }
        call_ids = {event.call_id for event in events}
        if len(call_ids) == 1:
            attributes["artagent.call_id"] = next(iter(call_ids))
        links = [Link(context) for context in contexts.values()]
        span = tracer.start_span(f"process {group}", parent, SpanKind.CONSUMER, attributes, links)
        try:
            with trace.use_span(span, record_exception=False, set_status_on_exception=False):
                yield
        except BaseException as error:
            set_error(span, error)
            raise
        finally:
            span.end()

    def shutdown(self) -> None:
        """Export what is pending and stop; blocking (call it from a thread at shutdown)."""
        shutdown = getattr(self.provider, "shutdown", None)
        if shutdown is not None:
            shutdown()
