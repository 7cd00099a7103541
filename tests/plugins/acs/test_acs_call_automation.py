"""The channel driving the real Call Automation SDK against a local fake ACS (signatures checked):
Event Grid answers, outbound calls, callbacks, transfer, recording, hang-up."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from _acs_kit import (
    APOLOGY,
    INCOMING,
    DeskLine,
    acs_line,
    build_runtime,
    call_events,
    serving,
    speech,
    wait_until,
)
from _fake_acs import FakeAcs
from artagent.config import LoadedConfig
from fakes.managed_identity import managed_identity_endpoint


async def test_event_grid_validation_then_an_incoming_call_is_answered_with_media_streaming(
    make_config: Callable[..., LoadedConfig],
) -> None:
    async with acs_line(make_config, ["hello there"], extra="sample_rate = 24000\nrecord = true\n") as (
        base,
        acs,
        runtime,
    ):
        async with httpx.AsyncClient() as client:
            handshake = await client.post(f"{base}/api/v1/calls/answer", json=[{
                "id": "v", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}}])  # fmt: skip
            assert handshake.status_code == 200
            assert handshake.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
            answered = await client.post(f"{base}/api/v1/calls/answer", json=[INCOMING])
        assert answered.status_code == 200, answered.text
        [call_id] = answered.json()["answered"]
        [body] = acs.bodies(":answer")
        assert body["incomingCallContext"] == "opaque-context-123"
        assert body["operationContext"] == call_id
        streaming = body["mediaStreamingOptions"]
        assert {k: streaming[k] for k in ("transportType", "contentType", "audioChannelType",
                "startMediaStreaming", "enableBidirectional", "audioFormat", "enableDtmfTones")} == {
            "transportType": "websocket", "contentType": "audio", "audioChannelType": "mixed",
            "startMediaStreaming": True, "enableBidirectional": True, "audioFormat": "pcm24KMono",
            "enableDtmfTones": True}  # fmt: skip
        assert streaming["transportUrl"].startswith(f"ws{base[4:]}/api/v1/media/stream?call={call_id}&token=")
        assert body["callbackUri"].startswith(f"{base}/api/v1/calls/callbacks?call={call_id}&token=")
        assert acs.refused == []
        # ACS connects: CallConnected starts the recording, the media stream carries the call.
        assert await wait_until(lambda: bool(acs.bodies("/recordings")))
        assert acs.bodies("/recordings")[0]["callConnectionId"] == "conn-1"
        [fake] = acs.calls.values()
        assert await wait_until(lambda: fake.phone is not None)
        phone = fake.phone
        assert phone is not None
        assert await wait_until(lambda: phone.heard_s() > 0.6)
        sizes = [len(pcm) for _, pcm in phone.received.audio[1:20]]
        # 40 ms messages of 24 kHz audio: 1,920 bytes on average (soxr hands its output over in
        # blocks, so one message may hold less and the next more).
        assert abs(sum(sizes) / len(sizes) - 1920) < 192 and all(size % 2 == 0 for size in sizes), sizes
        await asyncio.sleep(1.2)
        await phone.say(speech(0.6, rate=24000))
        assert await wait_until(lambda: phone.heard_s() > 1.3)
        await asyncio.sleep(0.5)
        await phone.drop()
        assert await wait_until(lambda: call_id not in runtime.calls)
        events = await call_events(runtime, call_id)
        said = [e["text"] for e in events if e["type"] == "agent_response_generated"]
        assert said == ["Hello, this is the test desk.", "You said hello there."]
        assert [e["recording_id"] for e in events if e["type"] == "recording_started"] == ["rec-1"]
        assert events[0]["type"] == "call_started" and events[0]["channel"] == "acs"


async def test_an_outbound_call_an_accepted_transfer_and_its_events(
    make_config: Callable[..., LoadedConfig], data_dir: Any
) -> None:
    async with acs_line(make_config, ["a person please"]) as (base, acs, runtime):
        async with httpx.AsyncClient() as client:
            bad = await client.post(f"{base}/api/v1/calls/initiate", json={"target": "555-0100"})
            assert bad.status_code == 400 and "target" in bad.json()["detail"]
            made = await client.post(f"{base}/api/v1/calls/initiate", json={"target": "+15550100001"})
        assert made.status_code == 201, made.text
        call_id = made.json()["call_id"]
        assert made.json()["call_connection_id"] == "conn-1"
        [body] = acs.bodies("/calling/callConnections")
        assert [t["phoneNumber"]["value"] for t in body["targets"]] == ["+15550100001"]
        assert body["sourceCallerIdNumber"]["value"] == "+18005550100"
        [fake] = acs.calls.values()
        assert await wait_until(lambda: fake.phone is not None and fake.phone.heard_s() > 0.4)
        assert fake.phone is not None
        await asyncio.sleep(1.0)
        await fake.phone.say(speech(0.5))
        assert await wait_until(lambda: bool(acs.bodies(":transferToParticipant")), timeout=10)
        [transfer] = acs.bodies(":transferToParticipant")
        assert transfer["targetParticipant"]["rawId"] == "4:+18005550123"
        assert transfer["operationContext"] == call_id
        assert await wait_until(lambda: call_id not in runtime.calls)
        events = await call_events(runtime, call_id)
        assert events[-1]["type"] == "call_ended" and events[-1]["reason"] == "transferred"
        joined = [e for e in events if e["type"] == "participant_joined"]
        assert joined and joined[0]["participant_id"] == "4:+15550100001"
        assert not acs.bodies(":terminate"), "a transferred call is not hung up"


async def test_a_refused_transfer_is_apologised_for_then_the_agent_hangs_up_on_acs(
    make_config: Callable[..., LoadedConfig],
) -> None:
    async with acs_line(make_config, ["a person please"], succeeds=False) as (base, acs, runtime):
        async with httpx.AsyncClient() as client:
            made = await client.post(f"{base}/api/v1/calls/initiate", json={"target": "+15550100001"})
        call_id = made.json()["call_id"]
        [fake] = acs.calls.values()
        assert await wait_until(lambda: fake.phone is not None and fake.phone.heard_s() > 0.4)
        assert fake.phone is not None
        await asyncio.sleep(1.0)
        await fake.phone.say(speech(0.5))
        assert await wait_until(lambda: bool(acs.bodies(":transferToParticipant")), timeout=10)
        for _ in range(100):  # the apology is said in full, and the call goes on
            said = [
                e["text"]
                for e in await call_events(runtime, call_id)
                if e["type"] == "agent_response_generated"
            ]
            if APOLOGY in said:
                break
            await asyncio.sleep(0.1)
        assert call_id in runtime.calls
        async with httpx.AsyncClient() as client:
            hung = await client.post(f"{base}/api/v1/calls/{call_id}/hangup")
        assert hung.status_code == 202
        assert await wait_until(lambda: bool(acs.bodies(":terminate")), timeout=10)
        assert await wait_until(lambda: call_id not in runtime.calls)
        events = await call_events(runtime, call_id)
        errors = [e for e in events if e["type"] == "error_occurred"]
        assert errors[0]["stage"] == "transfer" and "did not answer" in errors[0]["message"]
        said = [e["text"] for e in events if e["type"] == "agent_response_generated"]
        assert said[-2:] == [APOLOGY, "Thank you for calling. Goodbye."]
        assert events[-1]["reason"] == "hangup_requested"


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A self-signed certificate for 127.0.0.1, and the file to trust it by."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context, tmp_path / "cert.pem"


@pytest.fixture
async def managed_identity(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[dict[str, str]]]:
    """A managed identity endpoint issuing ``entra-token-7``; yields the requests it served."""

    async def issue(resource: str) -> tuple[str, int]:
        return "entra-token-7", 3600

    async with managed_identity_endpoint(monkeypatch, issue) as served:
        yield served


async def test_without_a_key_call_control_signs_in_with_entra_id(
    make_config: Callable[..., LoadedConfig],
    tls: tuple[ssl.SSLContext, Path],
    managed_identity: list[dict[str, str]],
) -> None:
    acs = FakeAcs(tls=tls[0], entra_tokens={"entra-token-7"})
    await acs.start()
    toml = f'[plugins.acs]\nendpoint = "{acs.url}"\ntls_ca_file = "{tls[1]}"\n'
    try:
        async with serving(build_runtime(make_config, DeskLine([]), toml)) as base:
            async with httpx.AsyncClient() as client:
                made = await client.post(f"{base}/api/v1/calls/initiate", json={"target": "+15550100001"})
            assert made.status_code == 201, made.text
            [fake] = acs.calls.values()
            assert await wait_until(lambda: fake.phone is not None and bool(fake.phone.received.audio))
    finally:
        await acs.stop()
    assert acs.refused == [] and len(acs.requests) == 1
    assert [q["resource"] for q in managed_identity] == ["https://communication.azure.com/"]
