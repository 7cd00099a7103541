"""Calls in the voicelive mode on each service and in each situation a call meets: the GA
dialect of OpenAI (bearer key, the renamed events, no new voice once it has spoken), Azure
OpenAI signed in with Microsoft Entra ID, Voice Live taking 16 kHz audio as it is, an escalation
transferred by the channel, a typed turn, a resumed call, and the runtime ending calls politely
(worker shutdown, a silent caller)."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
from _voicelive_kit import KEY, Call, TransferChannel, config, runtime
from artagent.events import (
    AgentHandoff,
    CallEnded,
    CallStarted,
    EscalationRequested,
    ToolCalled,
    TranscriptionReceived,
)
from artagent.session.state import Message, SessionState
from fake_realtime import FakeRealtime
from fakes.openai_server import FakeOpenAIServer
from realtime_script import Answer, Context, Say, echo_brain, quoted
from realtime_script import Call as FunctionCall

pytestmark = pytest.mark.timeout(60)


def front_desk(context: Context) -> Answer:
    """Verifies on a name and ZIP, hands accidents to the claim intake, escalates on request."""
    line = quoted(context.response_instructions)
    last, words = context.last, str(context.last.get("text", "")).lower()
    if last.get("type") == "function_call_output":
        output = last["output"]
        if output.get("verified"):
            return [Say("Thanks John, you are verified.")]
        if output.get("transferring"):
            return [Say("I'm transferring you to a colleague now.")]
        return [Say(f"{line} Go on." if line else "Go on.")]
    if line is not None:
        return [Say(line)]
    if "98052" in words:
        return [FunctionCall("authenticate_caller", {"full_name": "John Smith", "zip": "98052"})]
    if "accident" in words:
        return [FunctionCall("handoff_to_fnol_intake", {"reason": "accident"})]
    if "person" in words:
        return [FunctionCall("escalate_human", {"reason": "the caller asked for a person"})]
    return [Say("How can I help?")]


async def test_openai_in_the_ga_dialect(data_dir: Path) -> None:
    said = ["John Smith, ZIP 98052", "I had an accident"]
    async with FakeRealtime(utterances=said, brain=front_desk, dialect="ga", ms_per_char=3.0) as fake:
        rt = runtime(config(data_dir, fake.url, kind="openai-realtime"))
        async with rt.running():
            call = Call(rt)
            await call.answered(1)
            verified = await call.turn()
            greeted = await call.turn()
            await call.hang_up()
    connection = fake.connections[0]
    assert connection.path == "/v1/realtime" and connection.query == {"model": "gpt-realtime"}
    assert connection.headers["authorization"] == f"Bearer {KEY}" and "api-key" not in connection.headers
    assert verified.text == "Thanks John, you are verified."
    assert greeted.agent == "fnol_intake" and greeted.text.startswith(
        "I'm sorry to hear about the accident, John."
    )
    assert [e.tool for e in call.of(ToolCalled)] == ["authenticate_caller", "handoff_to_fnol_intake"]
    first, *later = connection.updates
    assert first["type"] == "realtime" and first["audio"]["output"]["voice"] == "alloy"
    assert any("record_fnol" in {t["name"] for t in u["tools"]} for u in later)
    assert all("audio" not in u for u in later)  # OpenAI keeps the voice it has spoken in


def use_managed_identity(monkeypatch: pytest.MonkeyPatch, identity: FakeOpenAIServer) -> None:
    """DefaultAzureCredential finds an App Service managed identity, served by the fake."""
    for variable in (
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_TENANT_ID",
        "AZURE_FEDERATED_TOKEN_FILE",
        "MSI_ENDPOINT",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", identity.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", identity.identity_header)


async def test_azure_openai_signs_in_with_entra_id_when_no_key_is_configured(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeOpenAIServer(api_key="unused") as identity:
        use_managed_identity(monkeypatch, identity)
        async with FakeRealtime(utterances=["Hello"], tokens=["entra-token-1"], dialect="ga") as fake:
            rt = runtime(config(data_dir, fake.url, kind="azure-openai-realtime", key=False))
            async with rt.running():
                call = Call(rt)
                await call.answered(1)
                answer = await call.turn()
                await call.hang_up()
                second = Call(rt, "call-2")
                await second.answered(1)
                await second.hang_up()
        tokens = [r for r in identity.requests if r.path == "/msi/token"]
    assert answer.text == "You said: Hello."
    for connection in fake.connections:
        assert connection.path == "/openai/v1/realtime" and connection.query == {"model": "gpt-realtime"}
        assert connection.headers["authorization"] == "Bearer entra-token-1"
        assert "api-key" not in connection.headers
    [token] = tokens  # the token is kept for the next call
    assert token.query["resource"] == "https://cognitiveservices.azure.com"


async def test_voice_live_takes_16_khz_audio_without_resampling(data_dir: Path) -> None:
    async with FakeRealtime(utterances=["Hello"]) as fake:
        rt = runtime(config(data_dir, fake.url, table="input_sample_rate = 16000"))
        async with rt.running():
            call = Call(rt)
            await call.answered(1)
            answer = await call.turn(0.5)
            await call.hang_up()
    connection = fake.connections[0]
    assert connection.updates[0]["input_audio_sampling_rate"] == 16000
    appended = connection.of("input_audio_buffer.append")
    assert {len(base64.b64decode(a["audio"])) for a in appended} == {640}  # 20 ms at 16 kHz, as it came
    assert connection.audio_ms == len(appended) * 20.0
    assert answer.text == "You said: Hello."
    speech = next(e for e in call.of(TranscriptionReceived) if e.is_final)
    assert speech.end_ms is not None and speech.start_ms is not None
    assert speech.end_ms - speech.start_ms == pytest.approx(500, abs=40)


async def test_an_escalation_is_transferred_once_the_hand_off_line_was_heard(data_dir: Path) -> None:
    async with FakeRealtime(utterances=["Can I talk to a person"], brain=front_desk, ms_per_char=3.0) as fake:
        rt = runtime(config(data_dir, fake.url))
        async with rt.running():
            channel = TransferChannel()
            call = Call(rt, channel=channel)
            await call.answered(1)
            await call.channel.say(0.4)
            await call.ended()
    [escalation] = call.of(EscalationRequested)
    assert (escalation.agent, escalation.reason) == ("auth", "the caller asked for a person")
    assert channel.transfers == [(None, "the caller asked for a person")]
    assert call.replies[-1].text == "I'm transferring you to a colleague now."
    assert call.of(CallEnded)[0].reason == "transferred"
    assert len(fake.connections) == 1


async def test_a_typed_turn_goes_to_the_model_as_text(data_dir: Path) -> None:
    started: list[Any] = []
    async with FakeRealtime(brain=echo_brain, ms_per_char=3.0) as fake:
        rt = runtime(config(data_dir, fake.url))
        async with rt.running():
            call = Call(rt, on_start=started.append)
            await call.answered(1)
            await started[0].submit_text("1234", source="dtmf")
            await started[0].until_quiet()
            await call.hang_up()
    typed = [e for e in call.of(TranscriptionReceived) if e.source == "dtmf"]
    assert [e.text for e in typed] == ["1234"]
    message = fake.connections[0].items[-2]
    assert (message["role"], message["text"]) == ("user", "1234")
    assert call.replies[-1].text == "You said: 1234."
    assert started[0].history[-2].content == "1234"


async def test_a_resumed_call_gives_the_service_its_history_and_says_the_resume_greeting(
    data_dir: Path,
) -> None:
    async with FakeRealtime(brain=echo_brain, ms_per_char=3.0) as fake:
        rt = runtime(config(data_dir, fake.url))
        async with rt.running():
            state = SessionState(call_id="call-1", channel="test", active_agent="auth", turn=1, seq=7)
            state.history += [
                Message(role="assistant", content="Thank you for calling.", agent="auth"),
                Message(role="user", content="My name is John Smith.", agent="auth"),
            ]
            await rt.sessions.store.save(state)
            call = Call(rt)
            await call.answered(1)
            await call.hang_up()
    [started] = call.of(CallStarted)
    assert started.resumed and started.seq > 7
    connection = fake.connections[0]
    given = [(i["role"], i["text"]) for i in connection.items if i.get("type") == "message"]
    assert given[:2] == [("assistant", "Thank you for calling."), ("user", "My name is John Smith.")]
    assert call.replies[0].text == "Sorry about that. Where were we?"


async def test_a_draining_worker_has_the_model_say_goodbye(data_dir: Path) -> None:
    async with FakeRealtime(brain=echo_brain, ms_per_char=3.0) as fake:
        rt = runtime(config(data_dir, fake.url))
        async with rt.running():
            call = Call(rt)
            await call.answered(1)
            ending = asyncio.create_task(rt.calls.drain(0.0))
            await call.ended()
            await ending
    assert call.replies[-1].text == "Thank you for calling. Goodbye."
    assert call.of(CallEnded)[0].reason == "worker_shutdown"
    assert call.channel.hangup_reason == "worker_shutdown"
    assert len(fake.connections[0].of("response.create")) == 2  # the greeting, the farewell


async def test_a_silent_caller_is_reprompted_then_said_goodbye(data_dir: Path) -> None:
    async with FakeRealtime(brain=echo_brain, ms_per_char=2.0) as fake:
        loaded = config(data_dir, fake.url, idle_s=(1.0, 2.0))
        rt = runtime(loaded)
        async with rt.running():
            call = Call(rt)
            await call.ended(timeout=15)
    texts = [r.text for r in call.replies]
    assert texts[1:] == ["Are you still there?", "Thank you for calling. Goodbye."]
    assert call.of(CallEnded)[0].reason == "idle"
    assert not call.of(AgentHandoff)
