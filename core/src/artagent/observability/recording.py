"""The trace of a call that is traced: :class:`RecordingCallTrace` and what it hands out.

Span times come from the call's own clock (the one the engine marks turns on), mapped once per
call onto the wall clock, so a turn's spans agree to the microsecond with the latency figures of
``agent_response_generated``; most of a turn's child spans are built when the reply ends, from
the timestamps its :class:`~artagent.session.latency.TurnTimeline` already holds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from artagent.events import (
    AgentHandoff,
    CallEnded,
    CallStarted,
    ErrorOccurred,
    EscalationRequested,
    Event,
)
from artagent.observability.calltrace import CallTrace, ModelSpan, ToolSpan, TurnTrace
from artagent.session.latency import TurnTimeline
from artagent.session.playout import Clock

__all__ = ["RecordingCallTrace", "set_error"]

AttributeValue = str | bool | int | float
Attributes = Mapping[str, AttributeValue]
_NONE: Attributes = {}
_PROPAGATOR = TraceContextTextMapPropagator()


def set_error(span: Span, error: BaseException) -> None:
    """Mark ``span`` failed: an ``exception`` event and an ERROR status. A cancellation (a
    barge-in, the call ending) is not a failure: it is only noted."""
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        span.set_attribute("artagent.cancelled", True)
        return
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


class RecordingCallTrace(CallTrace):
    recording = True

    def __init__(self, tracer: Tracer, call_id: str, clock: Clock, attributes: Mapping[str, Any]) -> None:
        self.tracer, self.clock = tracer, clock
        self._anchor_ns, self._anchor = time.time_ns(), clock.now()
        self._attributes = {"artagent.call_id": call_id, **attributes}
        self.span: Span = trace.INVALID_SPAN
        self._traceparent: tuple[int, str | None] = (0, None)

    def ns(self, at: float | None = None) -> int:
        """Clock time ``at`` (now by default) as OpenTelemetry's nanoseconds since the epoch."""
        at = self.clock.now() if at is None else at
        return self._anchor_ns + round((at - self._anchor) * 1e9)

    def current(self) -> Span:
        """The current span when it belongs to this call's trace, else the call's own span (a
        farewell asked for by the worker's drain runs in the drain's task)."""
        current = trace.get_current_span()
        if current.get_span_context().trace_id == self.span.get_span_context().trace_id:
            return current
        return self.span

    def start(
        self, name: str, attributes: Attributes, at: float | None = None, parent: Span | None = None
    ) -> Span:
        """A span started at clock time ``at`` (now by default), under ``parent`` (by default
        the current span of this call)."""
        context = trace.set_span_in_context(parent or self.current())
        return self.tracer.start_span(name, context, attributes=attributes, start_time=self.ns(at))

    def span_between(
        self, name: str, start: float | None, end: float | None, parent: Span, attributes: Attributes = _NONE
    ) -> None:
        """A finished span from ``start`` to ``end`` under ``parent``; none if either is
        unknown (the stage did not happen)."""
        if start is not None and end is not None:
            self.start(name, attributes, start, parent).end(end_time=self.ns(end))

    @contextmanager
    def _call_span(self) -> Iterator[None]:
        self.span = self.tracer.start_span(
            "call", kind=SpanKind.SERVER, attributes=self._attributes, start_time=self.ns()
        )
        try:
            with trace.use_span(self.span):
                yield
        finally:
            self.span.end(end_time=self.ns())

    def active(self) -> AbstractContextManager[None]:
        return self._call_span()

    def traceparent(self) -> str | None:
        context = self.current().get_span_context()
        if not context.is_valid:
            return None
        span_id, value = self._traceparent
        if span_id != context.span_id:  # a call's events come from a handful of spans in a row
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier, trace.set_span_in_context(trace.NonRecordingSpan(context)))
            value = carrier.get("traceparent")
            self._traceparent = (context.span_id, value)
        return value

    def emitted(self, event: Event) -> None:
        record = _ON_EVENT.get(type(event))
        if record is not None:
            record(self, event)

    def turn(self, number: int, timeline: TurnTimeline, agent: str) -> TurnTrace:
        start = timeline.speech_end if timeline.speech_end is not None else timeline.end_of_turn
        span = self.start("turn", {"artagent.turn": number, "artagent.agent": agent}, start)
        self.span_between("end_of_turn", timeline.speech_end, timeline.end_of_turn, span)
        self.span_between("stt", timeline.speech_end, timeline.final_transcript, span)
        return _RecordingTurn(self, span)

    def say(self, what: str, agent: str) -> TurnTrace:
        return _RecordingTurn(self, self.start("say", {"artagent.say": what, "artagent.agent": agent}))

    def tool(self, name: str, call_id: str, agent: str) -> AbstractContextManager[ToolSpan]:
        return self._tool(name, call_id, agent)

    @contextmanager
    def _tool(self, name: str, call_id: str, agent: str) -> Iterator[ToolSpan]:
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": call_id,
            "gen_ai.agent.name": agent,
        }
        span = self.start(f"execute_tool {name}", attributes)
        tool = _RecordingTool(span)
        try:
            with trace.use_span(span, record_exception=False, set_status_on_exception=False):
                yield tool
        except BaseException as error:
            set_error(span, error)
            raise
        finally:
            span.end(end_time=self.ns())


class _RecordingTool(ToolSpan):
    def __init__(self, span: Span) -> None:
        self.span = span

    def finish(self, *, ok: bool) -> None:
        self.span.set_attribute("artagent.tool.ok", ok)
        if not ok:
            self.span.set_status(Status(StatusCode.ERROR, "the tool failed or timed out"))


class _RecordingModel(ModelSpan):
    def __init__(self, call: RecordingCallTrace, span: Span, started: float) -> None:
        self.call, self.span, self.started = call, span, started

    def first_token(self, at: float) -> None:
        self.span.set_attribute("artagent.first_token_ms", round((at - self.started) * 1000, 1))

    def usage(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        if model:
            self.span.set_attribute("gen_ai.response.model", model)
        self.span.set_attribute("gen_ai.usage.input_tokens", prompt_tokens)
        self.span.set_attribute("gen_ai.usage.output_tokens", completion_tokens)

    def end(self, *, tool_calls: int, error: BaseException | None = None) -> None:
        self.span.set_attribute("artagent.tool_calls", tool_calls)
        if error is not None:
            set_error(self.span, error)
        self.span.end(end_time=self.call.ns())


class _RecordingTurn(TurnTrace):
    def __init__(self, call: RecordingCallTrace, span: Span) -> None:
        self.call, self.span = call, span
        self._interrupted = False

    def active(self) -> AbstractContextManager[Any]:
        return trace.use_span(self.span, record_exception=False, set_status_on_exception=False)

    def model(self, requested: str, agent: str) -> ModelSpan:
        started = self.call.clock.now()
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": requested,
            "gen_ai.agent.name": agent,
        }
        span = self.call.start(f"chat {requested}".rstrip(), attributes, started, self.span)
        return _RecordingModel(self.call, span, started)

    def barge_in(self, heard_ms: float) -> None:
        self.span.add_event("barge_in", {"artagent.heard_ms": heard_ms}, timestamp=self.call.ns())
        self.span.set_attribute("artagent.interrupted", True)
        self._interrupted = True

    def end(self, timeline: TurnTimeline, *, error: BaseException | None = None) -> None:
        call, span, now = self.call, self.span, self.call.clock.now()
        call.span_between("tts.first_audio", timeline.tts_request, timeline.tts_first_audio, span)
        cut = {"artagent.interrupted": self._interrupted}
        call.span_between("playout", timeline.first_frame_sent, now, span, cut)
        if timeline.speech_end is not None:
            for stage, ms in _latency_figures(timeline):
                span.set_attribute(f"artagent.latency.{stage}", ms)
        if error is not None:
            set_error(span, error)
        span.end(end_time=call.ns(now))


def _latency_figures(timeline: TurnTimeline) -> list[tuple[str, float]]:
    """The turn's latency figures that are known (``total_ms``...), as the event carries them."""
    latency = timeline.latency()
    return [(f, v) for f in latency.__struct_fields__ if (v := getattr(latency, f)) is not None]


# -- events that become span events or attributes ----------------------------------------------


def _call_started(trace_: RecordingCallTrace, event: Event) -> None:
    assert isinstance(event, CallStarted)
    for key, value in (("channel", event.channel), ("scenario", event.scenario), ("worker", event.worker)):
        if value:
            trace_.span.set_attribute(f"artagent.{key}", value)
    trace_.span.set_attribute("artagent.resumed", event.resumed)


def _call_ended(trace_: RecordingCallTrace, event: Event) -> None:
    assert isinstance(event, CallEnded)
    span = trace_.span
    span.set_attribute("artagent.end_reason", event.reason)
    if event.outcome:
        span.set_attribute("artagent.outcome", event.outcome)
    span.set_attribute("artagent.turns", event.turns)
    span.set_attribute("artagent.barge_ins", event.barge_ins)


def _handoff(trace_: RecordingCallTrace, event: Event) -> None:
    assert isinstance(event, AgentHandoff)
    attributes = {"artagent.from_agent": event.from_agent, "artagent.to_agent": event.to_agent,
                  "artagent.handoff.kind": event.kind, "artagent.handoff.reason": event.reason}  # fmt: skip
    trace_.current().add_event("agent_handoff", attributes, timestamp=trace_.ns())


def _escalation(trace_: RecordingCallTrace, event: Event) -> None:
    assert isinstance(event, EscalationRequested)
    attributes = {"artagent.agent": event.agent, "artagent.escalation.reason": event.reason}
    if event.target:
        attributes["artagent.escalation.target"] = event.target
    trace_.current().add_event("escalation_requested", attributes, timestamp=trace_.ns())
    trace_.span.set_attribute("artagent.escalated", True)


def _error(trace_: RecordingCallTrace, event: Event) -> None:
    assert isinstance(event, ErrorOccurred)
    span = trace_.current()
    attributes: Attributes = {
        "exception.type": event.kind,
        "exception.message": event.message,
        "artagent.stage": event.stage,
        "artagent.recoverable": event.recoverable,
    }
    span.add_event("exception", attributes, timestamp=trace_.ns())
    span.set_status(Status(StatusCode.ERROR, f"{event.stage}: {event.kind}"))


_ON_EVENT: dict[type[Event], Callable[[RecordingCallTrace, Event], None]] = {
    CallStarted: _call_started,
    CallEnded: _call_ended,
    AgentHandoff: _handoff,
    EscalationRequested: _escalation,
    ErrorOccurred: _error,
}
