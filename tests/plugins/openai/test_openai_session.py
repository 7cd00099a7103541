"""A call through core's real Session engine with the router as its model, on the real clock:
text streamed by the fake server is spoken, a tool call reaches the session's ToolRunner, the
result goes back to the model, and the turn's usage lands in ``agent_response_generated``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

from artagent.events import AgentResponseGenerated, ToolCalled, ToolCompleted
from artagent.providers import ToolCallRequest, ToolSpec
from artagent.session.engine import SessionSettings
from artagent.session.playout import LoopClock
from artagent.session.tools import CallControl, ToolResult
from artagent.testing import CallHarness, FakeChannel, FakeSTT, FakeTTS
from artagent_openai.router import OpenAIRouter
from fakes.openai_script import Reply, ToolCall
from fakes.openai_server import FakeOpenAIServer

LOOKUP = ToolSpec(
    name="lookup_policy",
    description="Find a policy by its number",
    parameters={"type": "object", "properties": {"policy": {"type": "string"}}, "required": ["policy"]},
)


class PolicyTools:
    """The session's ToolRunner: one tool that records what it was asked."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, dict[str, Any]]] = []

    def specs(self) -> Sequence[ToolSpec]:
        return [LOOKUP]

    async def run(self, call: ToolCallRequest, control: CallControl) -> ToolResult:
        self.ran.append((call.name, call.arguments))
        control.state.fields["policy"] = call.arguments["policy"]
        return ToolResult(content={"policy": call.arguments["policy"], "deductible": 500})


async def test_a_call_speaks_the_streamed_text_and_runs_the_tool_the_model_asked_for(
    openai_server: FakeOpenAIServer, make_router: Callable[..., OpenAIRouter]
) -> None:
    openai_server.script(
        Reply(
            text="Let me check.",
            tool_calls=[ToolCall("lookup_policy", {"policy": "P-100"}, id="call_7", fragment_chars=2)],
            usage=(40, 12),
        ),
        Reply(text="Your deductible is 500 dollars.", usage=(95, 9), chunk_delay_s=0.02),
    )
    clock = LoopClock()
    call = CallHarness(
        clock=clock,
        channel=FakeChannel(clock),
        stt=FakeSTT(clock, ["What is my deductible?"], partial_every=0, final_latency_s=0.05),
        tts=FakeTTS(clock, seconds_per_char=0.01, first_audio_latency_s=0.01),
        model=make_router(),  # type: ignore[arg-type]  # the harness takes any ModelProvider
    )
    tools = PolicyTools()
    settings = SessionSettings(
        greeting="", idle_reprompt_s=60.0, idle_hangup_s=120.0, system_prompt="Be brief."
    )
    task = await call.start(settings, tools=tools)
    await call.channel.say(0.5)
    async with asyncio.timeout(20):
        while not call.of(AgentResponseGenerated):
            await call.channel.silence(0.1)
    call.channel.leave()
    await asyncio.wait_for(task, 10)

    # What the fake server streamed was spoken, the tool ran in between.
    assert call.spoken() == ["Let me check.", "Your deductible is five hundred dollars."]
    assert tools.ran == [("lookup_policy", {"policy": "P-100"})]
    [called] = call.of(ToolCalled)
    [completed] = call.of(ToolCompleted)
    assert (called.tool, called.tool_call_id, called.arguments) == (
        "lookup_policy",
        "call_7",
        {"policy": "P-100"},
    )
    assert completed.ok and completed.result == {"policy": "P-100", "deductible": 500}
    assert call.session is not None and call.session.state.fields == {"policy": "P-100"}

    # The model was offered the tool, then asked again with its call and the result.
    first, second = openai_server.chat_requests
    assert first.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is my deductible?"},
    ]
    assert [tool["function"]["name"] for tool in first.tools] == ["lookup_policy"]
    asked, answered = second.messages[-2:]
    assert asked["role"] == "assistant" and asked["tool_calls"][0]["id"] == "call_7"
    assert json.loads(asked["tool_calls"][0]["function"]["arguments"]) == {"policy": "P-100"}
    assert answered["role"] == "tool" and answered["tool_call_id"] == "call_7"
    assert json.loads(answered["content"]) == {"policy": "P-100", "deductible": 500}

    # The turn's usage: both requests summed, and the model that answered.
    [response] = call.of(AgentResponseGenerated)
    assert response.text == "Let me check. Your deductible is 500 dollars."
    assert (response.model, response.prompt_tokens, response.completion_tokens) == ("gpt-4o", 135, 21)
    assert response.latency is not None and response.latency.model_first_token_ms is not None
