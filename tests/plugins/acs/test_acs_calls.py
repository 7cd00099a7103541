"""Whole phone calls over a real media WebSocket: a simulated ACS media client on one side, the
running server (uvicorn on loopback) with the ACS plugin on the other."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from _acs_kit import DeskLine, build_runtime, serving, speech
from artagent.config import LoadedConfig
from artagent_acs.simulator.client import MediaClient


async def simulate(base: str, **body: object) -> dict[str, object]:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{base}/api/v1/acs/simulate", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_greeting_reply_and_caller_hangup(make_config: Callable[..., LoadedConfig]) -> None:
    line = DeskLine(["what time is it"])
    async with serving(build_runtime(make_config, line)) as base:
        call = await simulate(base, callee="+18005550100")
        phone = await MediaClient.open(str(call["media_url"]), sample_rate=16000)
        try:
            assert await phone.until_agent_done(timeout=10)
            said = [e["text"] for e in phone.events_of("agent_response_generated")]
            assert said == ["Hello, this is the test desk."]
            assert len(phone.received.audio) >= 20, "the greeting was heard"
            await phone.say(speech(0.6))
            assert await phone.wait_event("agent_response_generated", 2)
            assert await phone.until_agent_done()
            said = [e["text"] for e in phone.events_of("agent_response_generated")]
            assert said[-1] == "You said what time is it."
            await phone.hang_up()
            assert await phone.closed_within(5)
        finally:
            await phone.close()
        ended = phone.events_of("call_ended")
        assert [e["reason"] for e in ended] == ["caller_hangup"]
        assert phone.close_code == 1000
