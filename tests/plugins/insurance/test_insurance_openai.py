"""The insurance scenario through the OpenAI router: the real openai client, against the fake
OpenAI server standing in for the LLM, completes a claim with real tool calls (verification, a
handoff, record_fnol), and the server saw each agent's own prompt and tools."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

from artagent.agents.chat import chat
from artagent.config import LoadedConfig, parse_config
from fakes.openai_script import Reply, Response, ToolCall
from fakes.openai_server import FakeOpenAIServer, RecordedRequest

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


def llm(request: RecordedRequest) -> Response:
    """A stand-in for the model: it acts on the last message and on the tools it is offered,
    the way the prompts ask an LLM to."""
    offered = {t["function"]["name"] for t in request.tools}
    last = request.messages[-1]
    if last["role"] == "tool":
        result = json.loads(last["content"])
        if "claim_id_spoken" in result:
            return Reply(text=f"Your claim number is {result['claim_id_spoken']}. Goodbye.")
        if result.get("verified"):
            return Reply(text="Thanks John, you are verified. How can I help?")
        return Reply(text="Go ahead.")
    words = str(last.get("content", "")).lower()
    if "authenticate_caller" in offered and "98052" in words:
        return Reply(
            tool_calls=[ToolCall("authenticate_caller", {"full_name": "John Smith", "zip": "98052"})]
        )
    if "handoff_to_fnol_intake" in offered and "accident" in words:
        return Reply(tool_calls=[ToolCall("handoff_to_fnol_intake", {"reason": "accident"})])
    if "record_fnol" in offered and "correct" in words:
        return Reply(text="Recording it now.", tool_calls=[ToolCall("record_fnol", CLAIM, fragment_chars=7)])
    if last["role"] == "system":  # just taken over: the note says what was said
        return Reply(text="Tell me what happened.")
    return Reply(text="I see. Is that all correct?")


def openai_config(tmp_path: Path, server: FakeOpenAIServer) -> LoadedConfig:
    text = f"""
[runtime]
data_dir = "{tmp_path}/state"
[agents]
routers = ["openai", "flows"]
timezone = "America/Los_Angeles"
[plugins.openai.routers.openai]
kind = "openai"
base_url = "{server.base_url}"
model = "gpt-test"
api_key_env = "AA_TEST_OPENAI_KEY"
"""
    return parse_config(
        text, base_dir=tmp_path, source="test.toml", environ={"AA_TEST_OPENAI_KEY": "sk-insurance"}
    )


def chat_events(loaded: LoadedConfig, lines: str) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    code = asyncio.run(chat(loaded, scenario="insurance", as_json=True, source=io.StringIO(lines), out=out))
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_claim_through_the_openai_router(tmp_path: Path) -> None:
    with FakeOpenAIServer(api_key="sk-insurance") as server:
        server.respond_with(llm)
        code, events = chat_events(
            openai_config(tmp_path, server),
            "John Smith, ZIP 98052\nI had an accident yesterday\n"
            "Main Street, Redmond, my Accord, all details as I said\nyes that's correct\n",
        )
        requests = server.chat_requests

    assert code == 0, events
    kinds = [e["type"] for e in events]
    assert "claim_recorded" in kinds and kinds[-1] == "call_ended"
    assert events[-1]["outcome"] == "claim_recorded"  # record_fnol set it
    [recorded] = [e for e in events if e["type"] == "claim_recorded"]
    assert recorded["policy_number"] == "PA21440794" and recorded["vehicle"] == "2017 Honda Accord"
    tools = [(e["tool"], e["ok"]) for e in events if e["type"] == "tool_completed"]
    assert tools == [("authenticate_caller", True), ("handoff_to_fnol_intake", True), ("record_fnol", True)]
    said = " ".join(e["text"] for e in events if e["type"] == "agent_response_generated")
    assert f"Your claim number is {spoken(recorded['claim_id'])}" in said
    usage = [e for e in events if e["type"] == "agent_response_generated" and e.get("model")]
    assert usage and all(e["model"] == "gpt-test" for e in usage)
    # Each agent was asked with its own prompt and tools; settings from its YAML were sent.
    auth, *_, fnol = requests
    assert auth.messages[0]["content"].startswith("You are the front desk of Contoso Insurance")
    assert {t["function"]["name"] for t in auth.tools} >= {"authenticate_caller", "handoff_to_fnol_intake"}
    assert auth.body["temperature"] == 0.3 and auth.body["max_completion_tokens"] == 200
    assert fnol.messages[0]["content"].startswith("You are the claims intake specialist")
    assert "record_fnol" in {t["function"]["name"] for t in fnol.tools}
    prompt = " ".join(fnol.messages[0]["content"].split())
    assert "Insured vehicles: 2017 Chevrolet Malibu, 2017 Honda Accord." in prompt


def spoken(claim_id: str) -> str:
    from artagent.agents.templates import spell

    return spell(claim_id)


def stubborn_llm(request: RecordedRequest) -> Response:
    """A model that ignores the prompt's limit: it tries every name and ZIP code it hears, and
    after the third failure tries once more with details that would match."""
    last = request.messages[-1]
    if last["role"] == "tool":
        result = json.loads(last["content"])
        if result.get("attempts_left") == 0 and "refused" not in result["error"]:
            retry = {"full_name": "John Smith", "zip": "98052"}
            return Reply(text="Let me try once more.", tool_calls=[ToolCall("authenticate_caller", retry)])
        return Reply(text="That did not match. Please try again.")
    if last["role"] == "user":
        name, zip_code = str(last["content"]).rsplit(" ", 1)
        arguments = {"full_name": name, "zip": zip_code}
        return Reply(tool_calls=[ToolCall("authenticate_caller", arguments)])
    return Reply(text="Hello.")


def test_the_openai_router_cannot_verify_past_three_failures(tmp_path: Path) -> None:
    with FakeOpenAIServer(api_key="sk-insurance") as server:
        server.respond_with(stubborn_llm)
        code, events = chat_events(
            openai_config(tmp_path, server),
            "Bob Jones 12345\nMary Major 55555\nRita Rand 44444\nJohn Smith 98052\n",
        )

    assert code == 0, events
    results = [(e["ok"], e["result"]) for e in events if e["type"] == "tool_completed"]
    assert [ok for ok, _ in results] == [False, False, False, False]
    assert [r.get("attempts_left") for _, r in results] == [2, 1, 0, 0]
    assert results[3][1]["error"].startswith("verification refused")  # the right details, too late
    escalations = [e for e in events if e["type"] == "escalation_requested"]
    assert escalations and all(e["reason"] == "caller verification failed 3 times" for e in escalations)
    assert not any(e["type"] == "tool_completed" and e["result"].get("verified") for e in events)
    typed = [e["text"] for e in events if e["type"] == "transcription_received"]
    assert typed == ["Bob Jones 12345", "Mary Major 55555", "Rita Rand 44444"]  # then a human took over
    assert events[-1]["type"] == "call_ended" and events[-1]["reason"] == "escalated"
