"""A scripted call to trace, shared by the tracing tests: greeting, a handoff, a barge-in."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from _agents_kit import agents_layer
from artagent.events import Event
from artagent.observability.tracing import Tracing
from artagent.providers import ModelUsage, TextDelta, ToolCallRequest
from artagent.session.engine import SessionSettings
from artagent.session.state import SessionState
from artagent.testing import CallHarness, VirtualClock
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.clear()


def tracing(exporter: InMemorySpanExporter) -> Tracing:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider)


LONG_REPLY = "Sure. Your last invoice was forty two dollars and it was paid on time, thank you for asking."


def scripted_call(clock: VirtualClock, traced: Tracing) -> CallHarness:
    """Greeting; "my bill": reception hands off to billing (announced), which answers; the
    caller then asks again and talks over the (long) answer 1.5 s into it; then hangs up."""
    responses: list[Any] = [
        [TextDelta("Let me get billing."), ToolCallRequest(id="h1", name="handoff_to_billing",
                                                           arguments={"reason": "invoice"}),
         ModelUsage(model="scripted-1", prompt_tokens=120, completion_tokens=9)],
        [TextDelta("What is the invoice number?"),
         ModelUsage(model="scripted-1", prompt_tokens=150, completion_tokens=6)],
        LONG_REPLY,
        "Go on.",
    ]  # fmt: skip
    layer, model = agents_layer(clock, responses)
    call = CallHarness.build(clock, ["A question about my bill.", "What was my last invoice?", "Wait."], [])
    call.model = model
    conversation = layer.conversation(channel="test")
    state = SessionState(call_id=call.call_id, channel="test", fields={"caller_name": "John Smith"})
    settings = SessionSettings(idle_reprompt_s=100.0, idle_hangup_s=200.0, farewell="", channel="test")
    trace = traced.call(call.call_id, clock, **{"artagent.channel": "test"})

    async def caller() -> None:
        task = await call.start(settings, conversation=conversation, state=state, trace=trace)
        await call.channel.silence(3.0)
        await call.channel.say(1.0)
        await call.channel.silence(12.0)
        await call.channel.say(1.0)
        await call.channel.silence(2.5)  # the answer has started playing
        await call.channel.say(0.8)  # barge-in
        await call.channel.silence(8.0)
        call.channel.leave()
        await task

    clock.run(caller(), until=120.0)
    return call


def by_name(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def children(spans: Sequence[ReadableSpan], parent: ReadableSpan) -> list[str]:
    return [s.name for s in sorted(spans, key=lambda s: s.start_time or 0) if s.parent is not None
            and s.parent.span_id == parent.context.span_id]  # fmt: skip


def span_id_of(event: Event) -> int:
    assert event.traceparent is not None
    return int(event.traceparent.split("-")[2], 16)
