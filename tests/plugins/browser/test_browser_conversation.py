"""The conversation WebSocket over a real connection to uvicorn on loopback: the token it
requires, typed turns, barge-in, hang-up, and bad input refused without disturbing the other
conversations. Speech is faked (an energy VAD, scripted recognition, a tone voice); the
channel, the session, the insurance agents on the flows engine and the bus are real."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from _browserkit import GREETING, SECRET, Conversation, FakeSpeech, Server, serve
from artagent.testing.audio import tone
from artagent_browser.tokens import SessionTokens
from websockets.asyncio.client import connect

pytestmark = pytest.mark.asyncio(loop_scope="module")

VERIFY = "John Smith, 98052"
SILENCE = bytes(640)
SPEECH = tone(320, 300.0, 0.3, 16_000)  # 20 ms the energy VAD hears as speech


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server() -> AsyncIterator[Server]:
    folder = Path(tempfile.mkdtemp(prefix="aa-", dir="/tmp"))
    try:
        async with serve(folder, speech=FakeSpeech([VERIFY])) as running:
            yield running
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _ready(server: Server) -> Conversation:
    conversation = await server.conversation()
    await conversation.until(lambda c: "ready" in c.log)
    return conversation


async def _answered(conversation: Conversation) -> None:
    """A typed turn gets the verification answer."""
    await conversation.say_text(VERIFY)
    await conversation.until_event("agent_response_generated", text="you're verified")


async def _silence(conversation: Conversation) -> None:
    """An open microphone in a quiet room: silent frames at real time."""
    while True:
        await conversation.ws.send(SILENCE)
        await asyncio.sleep(0.02)


async def _refused(server: Server, payload: str | bytes) -> tuple[int | None, str]:
    conversation = await _ready(server)
    await conversation.ws.send(payload)
    return await conversation.closed()


# -- the token -------------------------------------------------------------------------------
async def test_without_a_valid_token_the_socket_is_closed_with_1008(server: Server) -> None:
    for query in ("", "?token=", "?token=not.a.jwt"):
        async with connect(server.ws_url + query) as ws:
            await ws.wait_closed()
            assert ws.close_code == 1008, query
            assert "session token" in (ws.close_reason or ""), ws.close_reason
    assert not server.runtime.calls, "no call started"


async def test_a_token_opens_one_conversation_only(server: Server) -> None:
    session = await server.token()
    first = await connect(f"{server.ws_url}?token={session['token']}")
    async with connect(f"{server.ws_url}?token={session['token']}") as second:
        await second.wait_closed()
        assert (second.close_code, second.close_reason) == (
            1008,
            "session token already used: each token opens one conversation",
        )
    await first.close()


async def test_an_expired_or_foreign_token_is_refused(server: Server) -> None:
    key = hashlib.sha256(b"artagent-browser-session:" + SECRET.encode()).digest()
    expired, _ = SessionTokens(server.runtime.redis, key=key, ttl_s=5, now=lambda: 1_000_000.0).issue(
        scenario=None, user=None
    )
    foreign, _ = SessionTokens(server.runtime.redis, key=b"x" * 32).issue(scenario=None, user=None)
    for token, reason in ((expired, "session token expired"), (foreign, "Signature verification failed")):
        async with connect(f"{server.ws_url}?token={token}") as ws:
            await ws.wait_closed()
            assert ws.close_code == 1008
            assert reason in (ws.close_reason or ""), ws.close_reason


# -- a conversation --------------------------------------------------------------------------
async def test_a_typed_turn_is_answered_in_text_and_audio(server: Server) -> None:
    conversation = await server.conversation()
    await conversation.until(lambda c: "ready" in c.log)
    ready = next(m for m in conversation.messages if m["type"] == "ready")
    assert ready == {
        "type": "ready", "call_id": conversation.call_id, "scenario": "insurance",
        "sample_rate": 16_000, "frame_ms": 20,
    }  # fmt: skip
    started = conversation.events[0]
    assert (started["type"], started["channel"]) == ("call_started", "browser")

    await _answered(conversation)
    said = await conversation.until_event("transcription_received", source="text")
    assert said["text"] == VERIFY and said["is_final"]
    tool = await conversation.until_event("tool_called", tool="authenticate_caller")
    assert tool["agent"] == "auth"
    answer = await conversation.until_event("agent_response_generated", text="you're verified")
    assert answer["agent"] == "auth" and answer["latency"]["total_ms"] is not None
    assert conversation.audio_frames > 20 and conversation.audio_sizes == {640}
    await conversation.close()


async def test_barge_in_sends_stop_and_the_rest_of_the_reply_never_comes(server: Server) -> None:
    conversation = await _ready(server)
    await conversation.until(lambda c: c.audio_frames >= 10)  # the greeting is playing
    for _ in range(15):  # 300 ms of caller speech, at real time
        await conversation.ws.send(SPEECH)
        await asyncio.sleep(0.02)
    await conversation.until(lambda c: "stop" in c.log)
    interrupted = await conversation.until_event("playback_interrupted")
    assert interrupted["agent"] == "auth" and interrupted["heard_ms"] > 0
    silence = asyncio.create_task(_silence(conversation))  # the caller listens, the mic stays open
    greeting = await conversation.until_event("agent_response_generated", interrupted=True)
    assert greeting["agent"] == "auth" and GREETING.startswith(greeting["text"])
    assert len(greeting["text"]) < len(GREETING) / 2, "only what was heard is kept"
    await conversation.until_event("agent_response_generated", text="you're verified")
    silence.cancel()

    after_stop = conversation.log[conversation.log.index("stop") + 1 :]
    next_reply = after_stop.index("playback_started")
    assert "audio" not in after_stop[:next_reply], "no audio of the interrupted greeting after stop"
    await conversation.close()


async def test_hanging_up_ends_the_call_and_the_history_shows_it(server: Server) -> None:
    conversation = await _ready(server)
    await _answered(conversation)
    await conversation.ws.send(json.dumps({"type": "hangup"}))
    assert await conversation.closed() == (1000, "caller_hangup")
    assert conversation.messages[-1] == {"type": "ended", "reason": "caller_hangup"}
    ended = await conversation.until_event("call_ended")
    assert ended["reason"] == "caller_hangup"

    async with asyncio.timeout(10):
        while True:  # the history subscriber folds the call from the bus
            found = await server.http.get(f"/api/v1/calls/{conversation.call_id}")
            if found.status_code == 200 and found.json()["status"] == "ended":
                break
            await asyncio.sleep(0.1)
    call = found.json()
    assert call["channel"] == "browser" and call["agents"] == ["auth"]
    assert [t["speaker"] for t in call["transcript"]][-2:] == ["caller", "agent"]
    assert call["transcript"][-2]["text"] == VERIFY


async def test_an_agent_escalating_ends_the_call_with_escalated(server: Server) -> None:
    conversation = await _ready(server)
    await conversation.say_text("I want to talk to a person")
    await conversation.until_event("escalation_requested")
    assert await conversation.closed(timeout=15) == (1000, "escalated")
    assert conversation.messages[-1] == {"type": "ended", "reason": "escalated"}


# -- bad input -------------------------------------------------------------------------------
async def test_an_oversized_message_is_refused_and_other_conversations_go_on(server: Server) -> None:
    other = await _ready(server)
    code, reason = await _refused(server, bytes(20_000))
    assert (code, reason) == (1009, "message too big: 20000 bytes (limit 16384)")
    await _answered(other)
    await other.close()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (bytes(641), "audio must be PCM16 (whole 2-byte samples): got 641 bytes"),
        ("hello", "invalid control message: JSON is malformed"),
        ('{"type": "dance"}', "invalid control message: Invalid value 'dance' - at `$.type`"),
        ('{"type": "text"}', "invalid control message: Object missing required field `text`"),
        (json.dumps({"type": "text", "text": "x" * 2001}), "text: at most 2000 characters"),
    ],
    ids=["odd-audio", "not-json", "unknown-type", "missing-field", "text-too-long"],
)
async def test_garbage_is_refused_with_1007_naming_it(
    server: Server, payload: str | bytes, reason: str
) -> None:
    other = await _ready(server)
    code, said = await _refused(server, payload)
    assert code == 1007 and said.startswith(reason), said
    await _answered(other)
    await other.close()


async def test_a_flood_of_messages_is_refused_with_1008(server: Server) -> None:
    other = await _ready(server)
    conversation = await _ready(server)
    for _ in range(400):
        await conversation.ws.send(SILENCE)
    assert await conversation.closed() == (1008, "too many messages: more than 100 per second")
    await _answered(other)
    await other.close()
    async with asyncio.timeout(5):
        while conversation.call_id in server.runtime.calls:  # noqa: ASYNC110 - another component's state
            await asyncio.sleep(0.05)
