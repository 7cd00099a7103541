"""Tool calls during a reply, on virtual time: events, the history the model sees, failures and
timeouts told to the model, an agent ending the call after its goodbye, and a runaway model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from artagent.events import AgentResponseGenerated, CallEnded, ErrorOccurred, ToolCalled, ToolCompleted
from artagent.providers import ModelUsage, TextDelta, ToolCallRequest, ToolSpec
from artagent.session.engine import SessionSettings
from artagent.session.tools import CallControl, ToolResult
from artagent.testing import CallHarness, VirtualClock

LOOKUP = ToolSpec(
    name="lookup_policy",
    description="Find a policy by number",
    parameters={"type": "object", "properties": {"policy": {"type": "string"}}, "required": ["policy"]},
)


class Tools:
    """A ToolRunner whose tools take ``seconds`` of virtual time each and do what the test says."""

    def __init__(self, clock: VirtualClock, *, seconds: float = 0.4, behaviour: str = "ok") -> None:
        self.clock, self.seconds, self.behaviour = clock, seconds, behaviour
        self.ran: list[tuple[str, dict[str, Any], float]] = []

    def specs(self) -> Sequence[ToolSpec]:
        return [LOOKUP]

    async def run(self, call: ToolCallRequest, control: CallControl) -> ToolResult:
        self.ran.append((call.name, call.arguments, self.clock.now()))
        await self.clock.sleep(self.seconds)
        if self.behaviour == "raise":
            raise LookupError("policy database unreachable")
        if self.behaviour == "end":
            control.end_after_reply("completed")
        control.state.fields["policy"] = call.arguments["policy"]
        return ToolResult(content={"policy": call.arguments["policy"], "deductible": 500})


def lookup(call_id: str = "c1") -> ToolCallRequest:
    return ToolCallRequest(id=call_id, name="lookup_policy", arguments={"policy": "P-100"})


def quiet(**settings: Any) -> SessionSettings:
    return SessionSettings(greeting="", idle_reprompt_s=100.0, idle_hangup_s=200.0, **settings)


def one_question(clock: VirtualClock, responses: list[Any], tools: Tools, **settings: Any) -> CallHarness:
    call = CallHarness.build(clock, ["What is my deductible?"], responses)

    async def caller() -> None:
        task = await call.start(quiet(**settings), tools=tools)
        await call.channel.say(1.0)
        await call.channel.silence(8.0)
        call.channel.leave()
        await task

    clock.run(caller(), until=60.0)
    return call


def test_a_tool_call_is_announced_run_reported_and_its_result_answered(virtual_clock: VirtualClock) -> None:
    tools = Tools(virtual_clock)
    responses = [[TextDelta("Let me check."), lookup()], "Your deductible is 500 dollars."]
    call = one_question(virtual_clock, responses, tools)

    [called] = call.of(ToolCalled)
    [completed] = call.of(ToolCompleted)
    assert (called.tool, called.tool_call_id, called.arguments) == (
        "lookup_policy",
        "c1",
        {"policy": "P-100"},
    )
    assert completed.ok and completed.result == {"policy": "P-100", "deductible": 500}
    assert completed.duration_ms == 400.0
    assert call.types().index("tool_called") < call.types().index("tool_completed")
    # "Let me check." is spoken while the tool runs, and the answer follows.
    assert call.spoken() == ["Let me check.", "Your deductible is five hundred dollars."]
    tool_started = tools.ran[0][2]
    assert call.channel.first_sent_at is not None and call.channel.first_sent_at <= tool_started + 0.4
    # The model was offered the tool, then asked again with the call and its result.
    first, second = call.model.requests
    assert [spec.name for spec in first.tools] == ["lookup_policy"]
    asked, answered = second.messages[-2:]
    assert asked.role == "assistant" and asked.tool_calls == [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "lookup_policy", "arguments": '{"policy":"P-100"}'},
        }
    ]
    assert answered.role == "tool" and answered.tool_call_id == "c1" and answered.name == "lookup_policy"
    assert json.loads(answered.content) == {"policy": "P-100", "deductible": 500}
    # The history keeps the tool exchange before what the agent said, and the tool's field.
    assert call.session is not None
    roles = [m.role for m in call.session.history]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert call.session.history[-1].content == "Let me check. Your deductible is 500 dollars."
    assert call.session.state.fields == {"policy": "P-100"}
    [answer] = call.of(AgentResponseGenerated)
    assert answer.latency is not None and answer.latency.model_first_token_ms == 300.0


def test_a_failing_tool_is_reported_to_the_model_and_the_call_goes_on(virtual_clock: VirtualClock) -> None:
    tools = Tools(virtual_clock, behaviour="raise")
    responses = [[lookup()], "I cannot reach your policy right now."]
    call = one_question(virtual_clock, responses, tools)

    [completed] = call.of(ToolCompleted)
    assert not completed.ok
    assert completed.result == {"error": "LookupError: policy database unreachable"}
    assert json.loads(call.model.requests[1].messages[-1].content) == completed.result
    assert call.spoken() == ["I cannot reach your policy right now."]
    assert call.of(ErrorOccurred) == []


def test_a_slow_tool_times_out_and_the_model_is_told(virtual_clock: VirtualClock) -> None:
    tools = Tools(virtual_clock, seconds=30.0)
    responses = [[lookup()], "That is taking too long, sorry."]
    call = one_question(virtual_clock, responses, tools, tool_timeout_s=2.0)

    [completed] = call.of(ToolCompleted)
    assert not completed.ok and completed.duration_ms == 2000.0
    assert completed.result == {"error": "lookup_policy took longer than 2 s"}
    # After tool_filler_s (2 s by default) of waiting, the agent says its filler.
    assert call.spoken() == ["One moment, please.", "That is taking too long,", "sorry."]


def test_an_agent_ends_the_call_after_its_goodbye(virtual_clock: VirtualClock) -> None:
    tools = Tools(virtual_clock, behaviour="end")
    responses = [[lookup()], "Your claim is filed. Goodbye."]
    call = one_question(virtual_clock, responses, tools, farewell="Thank you for calling.")

    assert call.spoken() == ["Your claim is filed.", "Goodbye."]  # no runtime farewell on top
    assert call.channel.hangup_reason == "completed"
    last_frame = call.channel.sent_at[-1]
    assert call.channel.hangup_at is not None and call.channel.hangup_at >= last_frame
    ended = call.events[-1]
    assert isinstance(ended, CallEnded) and ended.reason == "completed" and ended.turns == 1


def test_a_model_that_only_ever_calls_tools_is_stopped_with_an_apology(virtual_clock: VirtualClock) -> None:
    tools = Tools(virtual_clock, seconds=0.1)
    responses = [[lookup(f"c{i}")] for i in range(3)]
    call = one_question(virtual_clock, responses, tools, max_tool_rounds=2)

    assert len(tools.ran) == 2
    [error] = call.of(ErrorOccurred)
    assert error.kind == "ToolLoopError" and error.stage == "reply" and error.recoverable
    assert call.spoken() == ["Sorry, I had a problem there.", "Could you say that again?"]
    # The tool exchanges that did happen stay in the history.
    assert call.session is not None
    assert [m.role for m in call.session.history].count("tool") == 2


@pytest.mark.parametrize("content", [object(), {"amount": complex(1, 2)}])
def test_a_tool_result_that_is_not_json_is_a_failed_result(virtual_clock: VirtualClock, content: Any) -> None:
    class Odd(Tools):
        async def run(self, call: ToolCallRequest, control: CallControl) -> ToolResult:
            return ToolResult(content=content)

    call = one_question(virtual_clock, [[lookup()], "Sorry."], Odd(virtual_clock))
    [completed] = call.of(ToolCompleted)
    assert not completed.ok and "non-JSON result" in completed.result["error"]


def test_token_usage_of_every_request_in_a_turn_is_summed_into_the_response_event(
    virtual_clock: VirtualClock,
) -> None:
    responses = [
        [
            TextDelta("Let me check."),
            lookup(),
            ModelUsage(model="gpt-x", prompt_tokens=120, completion_tokens=9),
        ],
        [TextDelta("It is 500 dollars."), ModelUsage(model="gpt-y", prompt_tokens=150, completion_tokens=7)],
    ]
    call = one_question(virtual_clock, responses, Tools(virtual_clock))

    [answer] = call.of(AgentResponseGenerated)
    assert (answer.model, answer.prompt_tokens, answer.completion_tokens) == ("gpt-y", 270, 16)
    assert call.spoken() == ["Let me check.", "It is five hundred dollars."]


def test_a_router_that_reports_no_usage_leaves_the_usage_fields_empty(virtual_clock: VirtualClock) -> None:
    call = one_question(virtual_clock, ["Hello there."], Tools(virtual_clock))
    [answer] = call.of(AgentResponseGenerated)
    assert (answer.model, answer.prompt_tokens, answer.completion_tokens) == (None, None, None)
