"""A voicelive call over the phone channel, on the wire: the running server (uvicorn on
loopback) with the ACS plugin, a simulated ACS media client as the phone, and the fake realtime
service as the model. When the service hears the caller over the agent (``speech_started``
during a response), the phone gets ``StopAudio`` at once and no more of that answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from _voicelive_kit import config, runtime
from artagent.app import create_app
from artagent.runtime import Runtime
from artagent.testing.audio import tone
from artagent_acs.simulator.client import MediaClient
from fake_realtime import FakeRealtime
from realtime_script import Answer, Context, Say, quoted

pytestmark = pytest.mark.timeout(90)
MS_PER_CHAR = 20.0
LONG_ANSWER = "Your policy covers collision, comprehensive and liability, " * 4
"""About 4.6 s of the agent's voice at MS_PER_CHAR."""


def long_winded(context: Context) -> Answer:
    """Says the line it is told to (the greeting); answers a question at length; else briefly."""
    line = quoted(context.response_instructions)
    if line:
        return [Say(line)]
    if "cover" in str(context.last.get("text", "")):
        return [Say(LONG_ANSWER.strip())]
    return [Say("Of course, go ahead.")]


@asynccontextmanager
async def serving(rt: Runtime) -> AsyncIterator[str]:
    """The app on 127.0.0.1:<free port>, in this event loop; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(rt), host="127.0.0.1", port=0, lifespan="on", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server stopped before it started"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def phone_call(base: str) -> MediaClient:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{base}/api/v1/acs/simulate", json={"events": True})
    assert response.status_code == 201, response.text
    return await MediaClient.open(response.json()["media_url"], sample_rate=16000)


def speech(seconds: float) -> bytes:
    """The caller's voice: a tone loud enough for the fake service's energy VAD."""
    return tone(int(seconds * 16000), 220.0, 0.3, 16000)


def frames_between(phone: MediaClient, start: float, end: float) -> int:
    """20 ms frames of agent audio that arrived in (start, end] (a message holds several)."""
    return sum(len(pcm) for at, pcm in phone.received.audio if start < at <= end) // 640


async def test_the_caller_talking_over_the_agent_stops_its_audio_on_the_phone(data_dir: Path) -> None:
    async with FakeRealtime(
        utterances=["What does my policy cover", "Sorry, one more thing"],
        brain=long_winded,
        ms_per_char=MS_PER_CHAR,
    ) as fake:
        rt = runtime(config(data_dir, fake.url))
        async with serving(rt) as base:
            phone = await phone_call(base)
            async with phone:
                assert await phone.until_agent_done(timeout=15), "the greeting"
                await phone.say(speech(0.5))
                # The long answer is playing: a second of it has reached the phone.
                assert await phone.wait_event("playback_started", 2)
                answer_began = phone.received.audio[-1][0]
                assert await phone.wait_for(
                    lambda p: frames_between(p, answer_began, float("inf")) >= 50, timeout=10
                )
                await phone.say(speech(0.5))  # the caller talks over it
                assert await phone.wait_for(lambda p: bool(p.received.stop_audio), timeout=5)
                stopped_at = phone.received.stop_audio[0]
                assert await phone.wait_event("playback_interrupted")
                assert await phone.wait_for(
                    lambda p: (
                        [e["text"] for e in p.events_of("agent_response_generated")][-1:]
                        == ["Of course, go ahead."]
                    ),
                    timeout=10,
                )
                await phone.hang_up()
                assert await phone.closed_within(5)

    # StopAudio came while the caller was speaking, soon after the service heard them, and
    # the rest of the long answer never reached the phone: nothing arrived while the caller
    # went on talking (the next answer waits for their 0.5 s and the service's 200 ms silence).
    [connection] = fake.connections
    assert connection.of("input_audio_buffer.append"), "the caller's audio reached the service"
    assert len(phone.received.stop_audio) == 1
    assert frames_between(phone, stopped_at + 0.05, stopped_at + 0.4) == 0
    heard_s = frames_between(phone, answer_began, stopped_at) * 0.02
    assert 0.9 <= heard_s < len(LONG_ANSWER) * MS_PER_CHAR / 1000 / 2
    [interrupted] = phone.events_of("playback_interrupted")
    assert 900 <= interrupted["heard_ms"] <= heard_s * 1000 + 40
    # The model forgets what was not heard; the history keeps the heard words, interrupted.
    [truncate] = connection.of("conversation.item.truncate")
    assert truncate["audio_end_ms"] == int(interrupted["heard_ms"])
    cut = [e for e in phone.events_of("agent_response_generated") if e["interrupted"]]
    assert len(cut) == 1 and LONG_ANSWER.startswith(cut[0]["text"]) and cut[0]["text"]
    assert [e["reason"] for e in phone.events_of("call_ended")] == ["caller_hangup"]
