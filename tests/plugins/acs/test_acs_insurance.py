"""The insurance vertical over a phone line: a whole claim through the ACS media WebSocket,
answered by the offline flow engine with the insurance agents and tools."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from _acs_kit import FakeSpeech, installed_runtime, serving, speech
from artagent.config import LoadedConfig
from artagent_acs.simulator.client import MediaClient

CLAIM = (
    "John Smith 98052",
    "I had an accident",
    "I was driving my Honda Accord yesterday at 3 pm on Main Street in Redmond Washington",
    "two cars",
    "another car ran a red light and hit my passenger side",
    "98052",
    "yes it still drives",
    "one passenger",
    "no",
    "commuting",
    "yes that's right",
    "no that's all",
)


async def test_a_caller_is_verified_and_their_claim_recorded(
    make_config: Callable[..., LoadedConfig],
) -> None:
    runtime = installed_runtime(
        make_config, FakeSpeech(CLAIM), "[session.turn]\nmin_delay_s = 0.2\nmax_delay_s = 0.5\n"
    )
    async with serving(runtime) as base:
        async with httpx.AsyncClient() as client:
            call = (await client.post(f"{base}/api/v1/acs/simulate", json={"callee": "+18005550100"})).json()
        async with await MediaClient.open(call["media_url"], sample_rate=16000) as phone:
            for _ in CLAIM:
                assert await phone.until_agent_done(timeout=30)
                if phone.closed:
                    break
                before = len(phone.events_of("agent_response_generated"))
                await phone.say(speech(0.5))
                assert await phone.wait_event("agent_response_generated", before + 1, timeout=15)
            assert await phone.closed_within(30), "the agent said goodbye and hung up"
    said = " | ".join(e["text"] for e in phone.events_of("agent_response_generated"))
    assert "Thank you, John, you're verified" in said
    assert "Let me read that back. John Smith was driving your 2017 Honda Accord" in said
    assert "Your claim number is C L A" in said
    [claim] = phone.events_of("claim_recorded")
    assert claim["claim_id"].startswith("CLA") and claim["caller_name"] == "John Smith"
    assert claim["claim_id"][-4:].replace("", " ").strip() in said, "the caller heard their claim number"
    assert [e["to_agent"] for e in phone.events_of("agent_handoff")] == ["fnol_intake"]
    assert phone.events_of("call_ended")[0]["reason"] == "completed"


async def test_a_caller_keys_the_last_four_digits_of_their_phone_number_and_is_verified(
    make_config: Callable[..., LoadedConfig],
) -> None:
    """John Smith's phone number ends 3298: keyed on the phone (DtmfData, then #), the digits
    fill the verification form's ``digits`` field through the offline flow engine."""
    runtime = installed_runtime(make_config, FakeSpeech([]))
    async with serving(runtime) as base:
        async with httpx.AsyncClient() as client:
            call = (await client.post(f"{base}/api/v1/acs/simulate", json={"callee": "+18005550100"})).json()
        async with await MediaClient.open(call["media_url"], sample_rate=16000) as phone:
            assert await phone.until_agent_done(timeout=30)
            await phone.dtmf("3298#")
            assert await phone.wait_event("agent_response_generated", 2, timeout=15)
            await phone.hang_up()
            assert await phone.closed_within(10)
    assert [e["digits"] for e in phone.events_of("dtmf_received")] == ["3298"]
    keyed = [e["text"] for e in phone.events_of("transcription_received") if e["source"] == "dtmf"]
    assert keyed == ["3298"]
    [tool] = [e for e in phone.events_of("tool_called") if e["tool"] == "authenticate_caller"]
    assert tool["arguments"] == {"last_four": "3298"}
    said = [e["text"] for e in phone.events_of("agent_response_generated")]
    assert said[1].startswith("Thank you, John, you're verified.")
