"""Agents taking turns on a call, on virtual time: handoffs (announced and discrete) switch the
prompt, tools, voice and greeting; each edge's context policy decides what the new agent sees;
escalation goes to the channel; tool failures never end the call."""

from __future__ import annotations

import json
from typing import Any

from _agents_kit import LOOK_UP_S, TransferChannel, agents_layer
from artagent.config import AgentsConfig
from artagent.events import (
    AgentHandoff,
    AgentResponseGenerated,
    CallEnded,
    CallStarted,
    ErrorOccurred,
    EscalationRequested,
    ToolCalled,
    ToolCompleted,
)
from artagent.providers import TextDelta, ToolCallRequest
from artagent.session.engine import SessionSettings
from artagent.session.state import SessionState
from artagent.testing import CallHarness, FakeChannel, VirtualClock


def quiet() -> SessionSettings:
    return SessionSettings(idle_reprompt_s=100.0, idle_hangup_s=200.0, farewell="")


def handoff(target: str, call_id: str = "h1") -> ToolCallRequest:
    return ToolCallRequest(id=call_id, name=f"handoff_to_{target}", arguments={"reason": "asked"})


def run_call(
    clock: VirtualClock,
    utterances: list[str],
    responses: list[Any],
    *,
    channel: FakeChannel | None = None,
    fields: dict[str, Any] | None = None,
    config: AgentsConfig | None = None,
    backup: list[Any] | None = None,
) -> tuple[CallHarness, Any]:
    layer, model = agents_layer(clock, responses, config=config, backup=backup or [])
    call = CallHarness.build(clock, utterances, [])
    call.model = model
    if channel is not None:
        call.channel = channel
    conversation = layer.conversation(channel="test")
    state = SessionState(call_id=call.call_id, channel="test", fields=dict(fields or {}))

    async def caller() -> None:
        task = await call.start(quiet(), conversation=conversation, state=state)
        await call.channel.silence(3.0)
        for _ in utterances:
            await call.channel.say(1.0)
            await call.channel.silence(12.0)
        call.channel.leave()
        await task

    clock.run(caller(), until=120.0)
    return call, conversation


def test_the_start_agent_greets_in_its_voice_and_its_settings_reach_the_model(
    virtual_clock: VirtualClock,
) -> None:
    call, _ = run_call(
        virtual_clock, ["Hello there."], ["Hi! What can I do for you?"], fields={"caller_name": "Jo"}
    )

    assert call.spoken()[0] == "Welcome to Acme."
    started = call.events[0]
    assert isinstance(started, CallStarted) and started.scenario == "acme"
    greeting = call.tts.syntheses[0]
    assert greeting.voice is not None and (
        greeting.voice.name,
        greeting.voice.style,
        greeting.voice.rate,
    ) == (
        "ava",
        "cheerful",
        1.1,
    )
    [request] = call.model.requests
    assert request.messages[0].role == "system"
    assert request.messages[0].content == "You are the receptionist of acme.\nThe caller is Jo."
    assert (request.temperature, request.top_p, request.max_tokens) == (0.2, None, 120)
    assert [t.name for t in request.tools] == [
        "look_up",
        "call_human",
        "handoff_to_billing",
        "handoff_to_support",
    ]
    look_up = request.tools[0]
    assert look_up.description == "Find an invoice by its number."
    assert look_up.parameters["required"] == ["invoice"]
    assert look_up.parameters["properties"]["year"] == {"type": "integer", "default": 2026}
    handoff_tool = request.tools[2]
    assert handoff_tool.description == "The caller asks about an invoice or a payment"
    assert request.context is not None and request.context.agent == "reception"
    assert request.context.handoff_tools == {"billing": "handoff_to_billing", "support": "handoff_to_support"}
    [answer] = call.of(AgentResponseGenerated)[1:]
    assert answer.agent == "reception" and answer.text == "Hi! What can I do for you?"


def test_an_announced_handoff_switches_agent_voice_and_prompt_and_the_new_agent_greets(
    virtual_clock: VirtualClock,
) -> None:
    responses = [
        [TextDelta("Let me get billing."), handoff("billing")],
        "What is the invoice number?",
    ]
    call, conversation = run_call(
        virtual_clock, ["A question about my bill."], responses, fields={"caller_name": "John Smith"}
    )

    assert call.spoken() == [
        "Welcome to Acme.",
        "How can I help?",
        "Let me get billing.",
        "Hi John, billing here.",
        "What is the invoice number?",
    ]
    voices = [s.voice.name if s.voice else None for s in call.tts.syntheses]
    assert voices == ["ava", "ava", "ava", "ben", "ben"]
    [moved] = call.of(AgentHandoff)
    assert (moved.from_agent, moved.to_agent, moved.kind, moved.reason) == (
        "reception",
        "billing",
        "announced",
        "asked",
    )
    said = [(e.agent, e.text) for e in call.of(AgentResponseGenerated)]
    assert said[1:] == [
        ("reception", "Let me get billing."),
        ("billing", "Hi John, billing here. What is the invoice number?"),
    ]
    assert call.of(AgentResponseGenerated)[1].latency is not None
    assert call.of(AgentResponseGenerated)[2].latency is None  # one turn, one latency
    # The billing agent was asked with its own prompt, tools and settings, after its greeting.
    second = call.model.requests[1]
    assert second.messages[0].content == "You answer billing questions for John Smith."
    assert [t.name for t in second.tools] == ["look_up", "handoff_to_reception"]
    assert (second.temperature, second.top_p) == (None, 0.9)
    assert second.messages[-1].role == "system" and "Hi John, billing here." in second.messages[-1].content
    assert second.context is not None and second.context.arrived == "announced"
    # History: the caller, the handoff exchange, then what each agent said.
    assert call.session is not None
    history = [(m.role, m.agent, m.content) for m in call.session.history]
    assert history[-4:] == [
        ("assistant", "reception", ""),
        ("tool", None, '{"handed_off_to":"billing"}'),
        ("assistant", "reception", "Let me get billing."),
        ("assistant", "billing", "Hi John, billing here. What is the invoice number?"),
    ]
    assert call.session.state.active_agent == "billing" and conversation.agent == "billing"


def test_a_discrete_handoff_with_reset_context_answers_at_once_and_sees_only_the_last_words(
    virtual_clock: VirtualClock,
) -> None:
    responses = ["Sure.", [handoff("support")], "Have you tried turning it off and on?"]
    call, _ = run_call(virtual_clock, ["Hi.", "My router is broken."], responses)

    assert call.spoken()[-1] == "Have you tried turning it off and on?"
    assert "Support here." not in call.spoken()  # discrete: no greeting
    assert call.tts.syntheses[-1].voice is None  # support has no voice of its own
    third = call.model.requests[2]
    assert third.messages[0].content == "Helps with technical problems"  # its description: no prompt file
    assert [(m.role, m.content) for m in third.messages[1:]] == [("user", "My router is broken.")]
    assert third.context is not None and third.context.arrived == "discrete"
    [moved] = call.of(AgentHandoff)
    assert moved.kind == "discrete"


def test_returning_with_a_summary_policy_says_the_return_greeting_and_summarises(
    virtual_clock: VirtualClock,
) -> None:
    responses = [
        [handoff("billing")],
        "What is the invoice number?",
        [handoff("reception", "h2")],
        "Anything else?",
    ]
    call, _ = run_call(
        virtual_clock, ["My bill.", "Never mind, go back."], responses, fields={"caller_name": "Ann Lee"}
    )

    assert "Back at reception." in call.spoken()  # the return greeting, not the first one
    last = call.model.requests[-1]
    summary = last.messages[1]
    assert summary.role == "system" and summary.content.startswith("Summary of the call so far")
    assert "caller name: Ann Lee" in summary.content and "reception, billing" in summary.content
    assert last.messages[2].role == "user" and last.messages[2].content == "Never mind, go back."
    assert [e.to_agent for e in call.of(AgentHandoff)] == ["billing", "reception"]


def test_a_handoff_the_agent_may_not_make_is_refused_and_told_to_the_model(
    virtual_clock: VirtualClock,
) -> None:
    responses = [
        [handoff("billing")],
        [ToolCallRequest(id="y", name="handoff_to_support", arguments={})],
        "No.",
    ]
    call, _ = run_call(virtual_clock, ["Bill."], responses)
    refused = json.loads(call.model.requests[-1].messages[-1].content)
    assert refused == {"error": "billing cannot hand the call to support"}
    assert [e.to_agent for e in call.of(AgentHandoff)] == ["billing"]


def test_tool_arguments_are_validated_and_failures_are_reported_safely(virtual_clock: VirtualClock) -> None:
    def calls(*arguments: dict[str, Any]) -> list[Any]:
        return [ToolCallRequest(id=f"t{i}", name="look_up", arguments=a) for i, a in enumerate(arguments)]

    bad = calls({"invoice": 12}, {"invoice": "000000"}, {"invoice": "999999"}, {"invoice": "123456"})
    call, _ = run_call(virtual_clock, ["Check my invoices."], [bad, "Done."])

    results = [json.loads(m.content) for m in call.model.requests[1].messages if m.role == "tool"]
    assert results == [
        {"error": "invalid arguments (invoice): Expected `str`, got `int`"},
        {"error": "that invoice was cancelled"},
        {"error": "look_up failed; tell the caller it could not be done now"},
        {"invoice": "123456", "amount": 42, "year": 2026},
    ]
    [error] = call.of(ErrorOccurred)
    assert (error.kind, error.stage, error.recoverable) == ("RuntimeError", "tool", True)
    assert call.session is not None and call.session.state.fields["invoice"] == "123456"
    assert call.spoken()[-1] == "Done."  # the call goes on


def test_the_tool_calls_of_one_response_run_concurrently(virtual_clock: VirtualClock) -> None:
    calls = [
        ToolCallRequest(id=f"t{i}", name="look_up", arguments={"invoice": str(i) * 6}) for i in range(1, 5)
    ]
    call, _ = run_call(virtual_clock, ["Check my four invoices."], [calls, "All four are paid."])

    completed = call.of(ToolCompleted)
    assert sorted(c.tool_call_id for c in completed) == ["t1", "t2", "t3", "t4"]
    assert [c.duration_ms for c in completed] == [LOOK_UP_S * 1000] * 4  # each took its second...
    asking, answering = call.model.calls
    assert asking.ended_at is not None
    assert answering.started_at - asking.ended_at == LOOK_UP_S  # ...and all four together took one
    kinds = [e.type_tag() for e in call.events if isinstance(e, ToolCalled | ToolCompleted)]
    assert kinds == ["tool_called"] * 4 + ["tool_completed"] * 4
    assert "One moment, please." not in call.spoken()  # under tool_filler_s: no filler
    assert call.spoken()[-1] == "All four are paid."


def test_each_agent_is_answered_by_the_router_runtime_toml_gives_it(virtual_clock: VirtualClock) -> None:
    config = AgentsConfig(routing={"billing": ["backup", "scripted"]})
    responses = [[TextDelta("Let me get billing."), handoff("billing")]]
    backup = ["What is the invoice number?", "It is paid."]
    call, conversation = run_call(
        virtual_clock, ["Bill.", "123456."], responses, config=config, backup=backup
    )

    scripted, other = conversation.routing.instance("scripted"), conversation.routing.instance("backup")
    assert [r.context.agent for r in scripted.requests] == ["reception"]
    assert [r.context.agent for r in other.requests] == ["billing", "billing"]
    said = [(a.agent, a.text) for a in call.of(AgentResponseGenerated)][-2:]
    assert said == [("billing", "Hi, billing here. What is the invoice number?"), ("billing", "It is paid.")]


def test_a_tool_the_agent_does_not_have_is_refused(virtual_clock: VirtualClock) -> None:
    responses = [[handoff("billing")], [ToolCallRequest(id="z", name="call_human", arguments={})], "Hmm."]
    call, _ = run_call(virtual_clock, ["Bill."], responses)
    refused = json.loads(call.model.requests[-1].messages[-1].content)
    assert refused == {"error": "call_human is not one of billing's tools"}
    assert call.of(EscalationRequested) == []


def test_escalation_transfers_the_call_after_the_hand_off_line(virtual_clock: VirtualClock) -> None:
    channel = TransferChannel(virtual_clock, succeeds=True)
    responses = [
        [TextDelta("I will put you through."), ToolCallRequest(id="e", name="call_human", arguments={})],
        "",
    ]
    call, _ = run_call(virtual_clock, ["A person please."], responses, channel=channel)

    [asked] = call.of(EscalationRequested)
    assert (asked.reason, asked.target, asked.agent) == ("the caller asked", "+18005550100", "reception")
    assert channel.transfers == [("+18005550100", "the caller asked")]
    assert call.spoken()[-1] == "I will put you through."
    ended = call.of(CallEnded)[0]
    assert ended.reason == "transferred"


def test_a_failed_transfer_is_apologised_for_and_the_call_goes_on(virtual_clock: VirtualClock) -> None:
    channel = TransferChannel(virtual_clock, succeeds=False)
    responses = [[ToolCallRequest(id="e", name="call_human", arguments={})], "One moment.", "Sure."]
    call, _ = run_call(virtual_clock, ["A person please.", "OK then, my bill."], responses, channel=channel)

    assert "Sorry, I could not transfer you right now." in call.spoken()
    assert call.spoken()[-1] == "Sure."
    assert call.of(CallEnded)[0].reason == "caller_hangup"


def test_a_channel_that_cannot_transfer_ends_the_call_as_escalated(virtual_clock: VirtualClock) -> None:
    responses = [[ToolCallRequest(id="e", name="call_human", arguments={})], "Connecting you."]
    call, _ = run_call(virtual_clock, ["A person please."], responses)
    assert call.channel.hangup_reason == "escalated"
    assert call.of(CallEnded)[0].reason == "escalated"


def test_a_transfer_is_the_calls_outcome_unless_a_tool_set_one(virtual_clock: VirtualClock) -> None:
    channel = TransferChannel(virtual_clock, succeeds=True)
    responses = [[ToolCallRequest(id="e", name="call_human", arguments={})], "Connecting."]
    call, _ = run_call(virtual_clock, ["A person please."], responses, channel=channel)
    assert call.of(CallEnded)[0].outcome == "transferred"
