"""A whole insurance call in the voicelive mode: the real runtime (embedded Redis, the insurance
vertical, the orchestrator), the plugin's real WebSocket client, the fake realtime service
standing in for the model. The caller is verified by a tool call, handed to the claim intake
agent (the session follows: its prompt, tools and voice), records a claim and is said goodbye;
the history and the claim store see the call as they would a pipeline call."""

from __future__ import annotations

from pathlib import Path

import pytest
from _bus import wait_until
from _voicelive_kit import Call, config, runtime
from artagent.events import (
    AgentHandoff,
    CallEnded,
    ErrorOccurred,
    ToolCalled,
    ToolCompleted,
    TranscriptionReceived,
)
from artagent_insurance.claims import ClaimBook
from fake_realtime import FakeRealtime
from realtime_script import Answer, Context, Say, quoted
from realtime_script import Call as FunctionCall

pytestmark = pytest.mark.timeout(60)

CLAIM = {
    "caller_name": "John Smith",
    "driver_name": "John Smith",
    "vehicle": {"make": "Honda", "model": "Accord", "year": 2017},
    "vehicles_involved": 2,
    "description": "Rear-ended at a red light",
    "loss_datetime": "2026-11-30T15:00",
    "loss_street": "Main Street",
    "loss_city": "Redmond",
    "loss_state": "WA",
    "loss_zip": "98052",
    "drivable": True,
    "passengers": 0,
    "injuries": False,
    "trip_purpose": "commute",
}
SAID = ["John Smith, ZIP 98052", "I had an accident yesterday", "Yes, that is all correct", "No, that's all"]


def insurance_model(context: Context) -> Answer:
    """Acts as the prompts ask an LLM to: on the caller's words, the tools offered, and what
    the tools returned; a line it is told to say, it says."""
    line = quoted(context.response_instructions)
    last = context.last
    if last.get("type") == "function_call_output":
        result = last["output"]
        if "claim_id_spoken" in result:
            return [Say(f"Your claim number is {result['claim_id_spoken']}. Anything else?")]
        if result.get("verified"):
            return [Say("Thanks John, you are verified. How can I help?")]
        if result.get("ending"):
            return [Say("Thank you for calling Contoso Insurance. Goodbye.")]
        if line is not None:  # the new agent's greeting, then its first question
            return [Say(f"{line} Please tell me what happened.")]
    if line is not None:
        return [Say(line)]
    words = str(last.get("text", "")).lower()
    if "authenticate_caller" in context.tools and "98052" in words:
        return [FunctionCall("authenticate_caller", {"full_name": "John Smith", "zip": "98052"})]
    if "handoff_to_fnol_intake" in context.tools and "accident" in words:
        return [FunctionCall("handoff_to_fnol_intake", {"reason": "car accident"})]
    if "record_fnol" in context.tools and "correct" in words:
        return [Say("Recording it now."), FunctionCall("record_fnol", CLAIM)]
    if "end_call" in context.tools and "that's all" in words:
        return [FunctionCall("end_call", {"reason": "completed"})]
    return [Say("Sorry, could you say that again?")]


async def test_a_claim_is_taken_by_voice_through_two_agents(data_dir: Path) -> None:
    async with FakeRealtime(utterances=SAID, brain=insurance_model, ms_per_char=4.0) as fake:
        rt = runtime(
            config(data_dir, fake.url, session='[session.modes]\nscenarios = { insurance = "voicelive" }')
        )
        async with rt.running():
            call = Call(rt)
            await call.answered(1)  # the greeting
            verified = await call.turn()
            greeted = await call.turn()
            recorded = await call.turn()  # "Recording it now." while record_fnol runs...
            await call.answered(len(call.replies) + 1)  # ...then the claim number
            await call.channel.say(0.4)  # "No, that's all"
            await call.ended()
            assert await rt.outbox.flush()
            claims = await ClaimBook(rt.agents.store).all()
            document = await wait_until(lambda: _ended(rt), what="the call in the history")

    # What the caller heard, agent by agent.
    assert call.replies[0].agent == "auth" and call.replies[0].text.startswith(
        "Thank you for calling Contoso"
    )
    assert (verified.agent, verified.text) == ("auth", "Thanks John, you are verified. How can I help?")
    assert greeted.agent == "fnol_intake"
    assert greeted.text.startswith("I'm sorry to hear about the accident, John.")
    assert recorded.text.startswith("Recording it now.")
    number = call.replies[-2]
    assert number.agent == "fnol_intake" and number.text.startswith("Your claim number is C L A, ")
    assert number.text.endswith(f"{' '.join(claims[0]['claim_id'][-6:])}. Anything else?")
    assert call.replies[-1].text == "Thank you for calling Contoso Insurance. Goodbye."
    assert verified.latency is not None and verified.latency.total_ms is not None  # speech end to first frame

    # The tools ran through the agents layer, the handoff switched agents, the claim is stored.
    assert [e.tool for e in call.of(ToolCalled)] == [
        "authenticate_caller",
        "handoff_to_fnol_intake",
        "record_fnol",
        "end_call",
    ]
    assert all(e.ok for e in call.of(ToolCompleted))
    [handoff] = call.of(AgentHandoff)
    assert (handoff.from_agent, handoff.to_agent) == ("auth", "fnol_intake")
    [claim] = claims
    assert claim["caller_name"] == "John Smith" and claim["loss_city"] == "Redmond"
    assert claim["call_id"] == "call-1"
    assert [e.text for e in call.of(TranscriptionReceived) if e.is_final] == SAID
    [ended] = call.of(CallEnded)
    assert (ended.reason, ended.turns) == ("completed", 4)
    assert call.of(ErrorOccurred) == []
    assert call.channel.hangup_reason == "completed"

    # The session followed the agents: instructions, tools and the new agent's own voice.
    connection = fake.connections[0]
    first, *later = connection.updates
    assert first["voice"] == {"name": "en-US-AvaNeural", "type": "azure-standard", "style": "friendly"}
    assert first["input_audio_format"] == "pcm16" and first["turn_detection"]["type"] == "server_vad"
    assert "authenticate_caller" in {t["name"] for t in first["tools"]}
    fnol = next(u for u in later if "record_fnol" in {t["name"] for t in u["tools"]})
    assert fnol["voice"] == {
        "name": "en-US-AndrewNeural",
        "type": "azure-standard",
        "style": "empathetic",
        "rate": "0.95",
    }
    assert fnol["instructions"].startswith("You are the claims intake specialist of Contoso Insurance")
    assert "The caller is verified: John Smith, policy" in fnol["instructions"]  # rendered with the fields
    assert "You have just taken over the call and said:" in fnol["instructions"]
    outputs = [item for item in connection.items if item.get("type") == "function_call_output"]
    assert outputs[0]["output"]["verified"] is True and outputs[1]["output"] == {
        "handed_off_to": "fnol_intake"
    }
    calls = [item["call_id"] for item in connection.items if item.get("type") == "function_call"]
    assert [o["call_id"] for o in outputs] == calls

    # The history folds it like any call: the transcript in order, both agents, the outcome.
    assert document.agents == ["auth", "fnol_intake"]
    spoken = [(t.speaker, t.text) for t in document.transcript]
    assert spoken[1] == ("caller", SAID[0]) and spoken[2][0] == "agent"
    assert [t.text for t in document.transcript if t.speaker == "caller"] == SAID
    assert [tool.tool for tool in document.tool_calls][:2] == [
        "authenticate_caller",
        "handoff_to_fnol_intake",
    ]


async def _ended(rt: object) -> object:
    document = await rt.history.get("call-1")  # type: ignore[attr-defined]
    return document if document is not None and document.status == "ended" else None
