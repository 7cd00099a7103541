"""The trace of a scripted call, on virtual time, through the SDK's in-memory exporter: one
trace, the call's span at the root, a span per turn with its stages as children, the model's
tokens, a tool's span holding the handoff it made, a barge-in as an event on the turn it cut,
and every event carrying the traceparent of the span it was emitted in."""

from __future__ import annotations

import pytest
from _tracing_kit import by_name, children, exporter, scripted_call, span_id_of, tracing
from artagent.events import (
    AgentHandoff,
    AgentResponseGenerated,
    CallStarted,
    PlaybackInterrupted,
    ToolCalled,
)
from artagent.observability.tracing import Tracing
from artagent.testing import VirtualClock
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["exporter"]  # the fixture


def test_a_call_is_one_trace_a_span_per_turn_and_a_child_span_per_stage(
    virtual_clock: VirtualClock, exporter: InMemorySpanExporter
) -> None:
    call = scripted_call(virtual_clock, tracing(exporter))
    spans = exporter.get_finished_spans()

    [root] = by_name(spans, "call")
    assert root.parent is None
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}
    assert root.attributes is not None
    assert root.attributes["artagent.call_id"] == "call-1"
    assert root.attributes["artagent.scenario"] == "acme"
    assert root.attributes["artagent.end_reason"] == "caller_hangup"
    assert root.attributes["artagent.turns"] == 3 and root.attributes["artagent.barge_ins"] == 1
    assert children(spans, root) == ["say", "turn", "turn", "turn"]

    [greeting] = by_name(spans, "say")
    assert greeting.attributes == {"artagent.say": "greeting", "artagent.agent": "reception"}
    assert children(spans, greeting) == ["tts.first_audio", "playout"]

    first, second, third = sorted(by_name(spans, "turn"), key=lambda s: s.start_time or 0)
    # In the order they started: "Let me get billing." is spoken while the handoff runs.
    assert children(spans, first) == [
        "end_of_turn", "stt", "chat", "tts.first_audio", "execute_tool handoff_to_billing", "playout", "chat",
    ]  # fmt: skip
    assert first.attributes is not None and first.attributes["artagent.turn"] == 1
    [latency] = [e.latency for e in call.of(AgentResponseGenerated) if e.latency is not None][:1]
    assert latency is not None
    assert first.attributes["artagent.latency.total_ms"] == latency.total_ms
    assert first.attributes["artagent.latency.stt_ms"] == latency.stt_ms
    assert first.start_time is not None and first.end_time is not None
    [stt] = [s for s in by_name(spans, "stt") if s.parent and s.parent.span_id == first.context.span_id]
    assert stt.end_time is not None
    assert (stt.end_time - stt.start_time) / 1e6 == pytest.approx(latency.stt_ms, abs=0.01)  # type: ignore[operator]

    chats = [s for s in by_name(spans, "chat") if s.parent and s.parent.span_id == first.context.span_id]
    assert [s.attributes for s in chats] == [
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "", "gen_ai.agent.name": "reception",
         "artagent.first_token_ms": 100.0, "gen_ai.response.model": "scripted-1",
         "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 9, "artagent.tool_calls": 1},
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "", "gen_ai.agent.name": "billing",
         "artagent.first_token_ms": 100.0, "gen_ai.response.model": "scripted-1",
         "gen_ai.usage.input_tokens": 150, "gen_ai.usage.output_tokens": 6, "artagent.tool_calls": 0},
    ]  # fmt: skip

    [tool] = by_name(spans, "execute_tool handoff_to_billing")
    assert tool.attributes is not None and tool.attributes["gen_ai.tool.call.id"] == "h1"
    assert tool.attributes["artagent.tool.ok"] is True
    [handoff] = [e for e in tool.events if e.name == "agent_handoff"]
    assert dict(handoff.attributes or {}) == {
        "artagent.from_agent": "reception", "artagent.to_agent": "billing",
        "artagent.handoff.kind": "announced", "artagent.handoff.reason": "invoice",
    }  # fmt: skip

    # The second turn's answer was cut: a barge-in event on its span, with what was heard.
    [cut] = call.of(PlaybackInterrupted)
    [barge_in] = [e for e in second.events if e.name == "barge_in"]
    assert barge_in.attributes == {"artagent.heard_ms": cut.heard_ms}
    assert second.attributes is not None and second.attributes["artagent.interrupted"] is True
    [playout] = [
        s for s in by_name(spans, "playout") if s.parent and s.parent.span_id == second.context.span_id
    ]
    assert playout.attributes == {"artagent.interrupted": True}
    assert not [e for e in third.events if e.name == "barge_in"]


def test_every_event_carries_the_traceparent_of_the_span_it_was_emitted_in(
    virtual_clock: VirtualClock, exporter: InMemorySpanExporter
) -> None:
    call = scripted_call(virtual_clock, tracing(exporter))
    spans = exporter.get_finished_spans()
    [root] = by_name(spans, "call")
    [tool] = by_name(spans, "execute_tool handoff_to_billing")
    first = min(by_name(spans, "turn"), key=lambda s: s.start_time or 0)

    assert all(
        e.traceparent and e.traceparent.startswith(f"00-{root.context.trace_id:032x}-") for e in call.events
    )
    assert all(e.traceparent and int(e.traceparent[-2:], 16) & 1 for e in call.events)  # sampled
    assert span_id_of(call.of(CallStarted)[0]) == root.context.span_id
    assert span_id_of(call.of(ToolCalled)[0]) == tool.context.span_id
    assert span_id_of(call.of(AgentHandoff)[0]) == tool.context.span_id
    replies = [e for e in call.of(AgentResponseGenerated) if e.turn == 1]
    assert {span_id_of(e) for e in replies} == {first.context.span_id}
    cut = sorted(by_name(spans, "turn"), key=lambda s: s.start_time or 0)[1]
    assert span_id_of(call.of(PlaybackInterrupted)[0]) == cut.context.span_id


def test_a_call_that_is_not_traced_gets_no_spans_and_no_traceparent(virtual_clock: VirtualClock) -> None:
    call = scripted_call(virtual_clock, Tracing())

    assert call.of(AgentHandoff) and call.of(PlaybackInterrupted)
    assert {e.traceparent for e in call.events} == {None}
