"""Call Automation against the fake ACS, beyond the common path: a refused answer is reported,
an incoming call in the CloudEvents schema, a transfer to an ACS user, and what media streaming,
play and recognize results do to a call."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from _acs_kit import INCOMING, Collected, acs_line, call_events, collected, speech, wait_until
from _fake_acs import FakeAcs, FakeCall
from artagent.config import LoadedConfig

ACS_USER = "8:acs:00000000-1111-2222-3333-444444444444_00000000-aaaa-bbbb-cccc-dddddddddddd"


@pytest.fixture
def routes_log() -> Iterator[Collected]:
    with collected("artagent_acs.routes") as handler:
        yield handler


async def answered_call(base: str, acs: FakeAcs, delivery: Any = None) -> tuple[str, FakeCall]:
    async with httpx.AsyncClient() as client:
        answered = await client.post(f"{base}/api/v1/calls/answer", json=delivery or [INCOMING])
    assert answered.status_code == 200, answered.text
    [call_id] = answered.json()["answered"]
    [fake] = [c for c in acs.calls.values() if c.body["operationContext"] == call_id]
    assert await wait_until(lambda: fake.phone is not None and fake.phone.heard_s() > 0.4)
    return call_id, fake


async def test_an_answer_acs_refuses_is_reported_and_logged(
    make_config: Callable[..., LoadedConfig], routes_log: Collected
) -> None:
    async with acs_line(make_config, []) as (base, acs, runtime):
        acs.refuse_answer = "The incoming call context has expired."
        async with httpx.AsyncClient() as client:
            refused = await client.post(f"{base}/api/v1/calls/answer", json=[INCOMING])
        assert refused.status_code == 502, refused.text
        body = refused.json()
        assert body["answered"] == []
        [failure] = body["failed"]
        assert failure["caller"] == "+15550100001" and failure["callee"] == "+18005550100"
        assert "incoming call context has expired" in failure["reason"]
        assert "incoming call context has expired" in body["detail"]
        assert [m for m in routes_log.messages if "could not answer the call from +15550100001" in m]
        assert not await runtime.redis.keys("artagent:acs:call:*"), "the call is not kept"
        assert not acs.calls


async def test_an_incoming_call_in_the_cloudevents_schema_is_answered(
    make_config: Callable[..., LoadedConfig],
) -> None:
    cloud_event = {
        "specversion": "1.0", "type": "Microsoft.Communication.IncomingCall", "id": "ce-1",
        "source": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Communication/"
                  "communicationServices/contoso",
        "subject": "/caller/4:+15550100001/recipient/4:+18005550100", "time": "2026-01-01T10:00:00Z",
        "datacontenttype": "application/json", "data": INCOMING["data"],
    }  # fmt: skip
    async with acs_line(make_config, []) as (base, acs, runtime):
        async with httpx.AsyncClient() as client:  # one event, as CloudEvents structured content
            answered = await client.post(
                f"{base}/api/v1/calls/answer",
                content=json.dumps(cloud_event),
                headers={"content-type": "application/cloudevents+json; charset=utf-8"},
            )
        assert answered.status_code == 200, answered.text
        [call_id] = answered.json()["answered"]
        [body] = acs.bodies(":answer")
        assert body["incomingCallContext"] == "opaque-context-123" and body["operationContext"] == call_id
        [fake] = acs.calls.values()
        assert await wait_until(lambda: fake.phone is not None and fake.phone.heard_s() > 0.4)
        assert fake.phone is not None
        await fake.phone.drop()
        assert await wait_until(lambda: call_id not in runtime.calls)
        started = (await call_events(runtime, call_id))[0]
        assert (started["caller"], started["callee"]) == ("+15550100001", "+18005550100")


async def test_a_transfer_to_an_acs_user(make_config: Callable[..., LoadedConfig]) -> None:
    async with acs_line(make_config, ["a person please"], target=ACS_USER) as (base, acs, runtime):
        call_id, fake = await answered_call(base, acs)
        assert fake.phone is not None
        await asyncio.sleep(1.0)
        await fake.phone.say(speech(0.5))
        assert await wait_until(lambda: bool(acs.bodies(":transferToParticipant")), timeout=10)
        [transfer] = acs.bodies(":transferToParticipant")
        target = transfer["targetParticipant"]
        assert target["rawId"] == ACS_USER and target["communicationUser"] == {"id": ACS_USER}
        assert await wait_until(lambda: call_id not in runtime.calls)
        events = await call_events(runtime, call_id)
        assert events[-1]["type"] == "call_ended" and events[-1]["reason"] == "transferred"


async def test_media_streaming_play_and_recognize_results_reach_the_call(
    make_config: Callable[..., LoadedConfig],
) -> None:
    async with acs_line(make_config, []) as (base, acs, runtime):
        call_id, fake = await answered_call(base, acs)
        failure = {"code": 400, "subCode": 8510, "message": "Action failed, some prompts failed to play."}
        started = {"contentType": "Audio", "mediaStreamingStatus": "mediaStreamingStarted",
                   "mediaStreamingStatusDetails": "subscriptionStarted"}  # fmt: skip
        timed_out = {"code": 408, "subCode": 8510, "message": "timed out"}
        keys = ["one", "two", "pound"]
        sent = [
            ("MediaStreamingStarted", {"mediaStreamingUpdate": started}),
            ("PlayCompleted", {"operationContext": "prompt-7"}),
            ("PlayFailed", {"operationContext": "prompt-8", "resultInformation": failure}),
            ("RecognizeCompleted", {"recognitionType": "dtmf", "dtmfResult": {"tones": keys}}),
            ("RecognizeFailed", {"resultInformation": timed_out}),
        ]
        for name, data in sent:
            assert (await acs.callback(fake, name, **data)).status_code == 200
        assert await until_event(runtime, call_id, "dtmf_received")
        await acs.callback(fake, "MediaStreamingFailed", resultInformation={
            "code": 500, "subCode": 8581, "message": "Media streaming failed."}, mediaStreamingUpdate={
            "contentType": "Audio", "mediaStreamingStatus": "mediaStreamingFailed",
            "mediaStreamingStatusDetails": "streamConnectionUnsuccessful"})  # fmt: skip
        assert await wait_until(lambda: call_id not in runtime.calls, timeout=15)
        assert await wait_until(lambda: bool(acs.bodies(":terminate"))), "ACS is told to hang up"
        events = await call_events(runtime, call_id)
        streaming = [
            (e["status"], e["details"]) for e in events if e["type"] == "acs_media_streaming_changed"
        ]
        assert streaming == [("started", "subscriptionStarted"), ("failed", "streamConnectionUnsuccessful")]
        assert [e["operation_context"] for e in events if e["type"] == "acs_play_completed"] == ["prompt-7"]
        errors = [(e["stage"], e["kind"], e["recoverable"]) for e in events if e["type"] == "error_occurred"]
        assert errors == [
            ("play", "PlayFailed", True),
            ("recognize", "RecognizeFailed", True),
            ("media", "MediaStreamingFailed", False),
        ]
        assert [e["digits"] for e in events if e["type"] == "dtmf_received"] == ["12"]
        assert events[-1]["type"] == "call_ended" and events[-1]["reason"] == "media_failed"
        farewell = runtime.config.session.farewell
        assert farewell, "the test means something only with a farewell configured"
        spoken = [e["text"] for e in events if e["type"] == "agent_response_generated"]
        assert farewell not in spoken, "no farewell into a media stream that failed"


async def until_event(runtime: Any, call_id: str, kind: str, timeout: float = 10.0) -> bool:
    for _ in range(int(timeout / 0.1)):
        if any(e["type"] == kind for e in await call_events(runtime, call_id)):
            return True
        await asyncio.sleep(0.1)
    return False
