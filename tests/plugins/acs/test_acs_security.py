"""Only ACS (and the operator) get in: signed per-call URL tokens, ACS's JWT, Event Grid's
secret, the control token. Every refusal is a 401 or a WebSocket close 1008 with the reason."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import websockets
from _acs_kit import DeskLine, build_runtime, serving
from _fake_acs import KEY, FakeAcs
from _fake_openid import AUDIENCE, FakeOpenId
from artagent.config import LoadedConfig
from artagent_acs.tokens import UrlSigner
from cryptography.hazmat.primitives.asymmetric import rsa

INCOMING = {"eventType": "Microsoft.Communication.IncomingCall", "data": {
    "to": {"rawId": "4:+18005550100", "phoneNumber": {"value": "+18005550100"}},
    "from": {"rawId": "4:+15550100001", "phoneNumber": {"value": "+15550100001"}},
    "incomingCallContext": "ctx"}}  # fmt: skip


async def refused(url: str, headers: dict[str, str] | None = None) -> tuple[int | None, str]:
    """Connect to a media URL and return how the server closed it (1008 and why)."""
    async with websockets.connect(url, additional_headers=headers) as ws:
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return ws.close_code, ws.close_reason or ""


def retoken(url: str, token: str | None = None, call: str | None = None) -> str:
    parts = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if token is not None:
        query["token"] = token
    if call is not None:
        query["call"] = call
    return parts._replace(query="&".join(f"{k}={v}" for k, v in query.items() if v)).geturl()


async def test_media_urls_need_the_calls_own_valid_token(make_config: Callable[..., LoadedConfig]) -> None:
    toml = '[plugins.acs]\nsigning_key_env = "SIGNING"\n'
    runtime = build_runtime(make_config, DeskLine([]), toml, environ={"SIGNING": "k" * 32})
    async with serving(runtime) as base, httpx.AsyncClient() as client:
        made = (await client.post(f"{base}/api/v1/acs/simulate", json={})).json()
        other = (await client.post(f"{base}/api/v1/acs/simulate", json={})).json()
        url = made["media_url"]
        token = parse_qs(urlparse(url).query)["token"][0]
        assert await refused(retoken(url, token="")) == (1008, "missing call or token")
        assert await refused(retoken(url, token="123.abc")) == (1008, "invalid token")
        assert await refused(retoken(url, token="nonsense")) == (1008, "malformed token")
        assert await refused(retoken(url, call=other["call_id"])) == (1008, "invalid token")
        assert await refused(retoken(url, call="acs-unknown", token=token)) == (1008, "invalid token")
        assert await refused(f"ws{base[4:]}/api/v1/media/stream") == (1008, "missing call or token")
        # A token for the callback URL of the same call does not open its media.
        signer = UrlSigner(b"k" * 32, ttl_s=60)
        assert await refused(retoken(url, token=signer.issue(made["call_id"], "callback"))) == (
            1008,
            "invalid token",
        )
        expired = UrlSigner(b"k" * 32, ttl_s=-10)
        assert await refused(retoken(url, token=expired.issue(made["call_id"], "simulated"))) == (
            1008,
            "expired token",
        )
        metrics = (await client.get(f"{base}/metrics")).text
        assert 'artagent_acs_refused_requests_total{endpoint="media"} 8.0' in metrics


async def test_callbacks_and_event_grid_refuse_what_is_not_signed(
    make_config: Callable[..., LoadedConfig],
) -> None:
    toml = '[plugins.acs]\neventgrid_secret_env = "GRID_SECRET"\n'
    runtime = build_runtime(make_config, DeskLine([]), toml, environ={"GRID_SECRET": "s3cret"})
    async with serving(runtime) as base, httpx.AsyncClient() as client:
        cb = f"{base}/api/v1/calls/callbacks"
        event = [{"type": "Microsoft.Communication.CallConnected", "data": {"callConnectionId": "c"}}]
        assert (await client.post(cb, json=event)).status_code == 401
        assert (await client.post(f"{cb}?call=acs-x&token=1.x", json=event)).status_code == 401
        answer = f"{base}/api/v1/calls/answer"
        no_secret = await client.post(answer, json=[INCOMING])
        assert no_secret.status_code == 401 and "Event Grid secret" in no_secret.json()["detail"]
        assert (await client.post(f"{answer}?secret=wrong", json=[INCOMING])).status_code == 401
        validation = [
            {"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "data": {"validationCode": "v1"}}
        ]
        ok = await client.post(f"{answer}?secret=s3cret", json=validation)
        assert ok.status_code == 200 and ok.json() == {"validationResponse": "v1"}
        ok = await client.post(answer, json=validation, headers={"X-ArtAgent-Secret": "s3cret"})
        assert ok.status_code == 200
        # The CloudEvents schema's handshake asks which origins may deliver.
        options = await client.options(answer, headers={"WebHook-Request-Origin": "eventgrid.azure.net"})
        assert options.status_code == 200
        assert options.headers["webhook-allowed-origin"] == "eventgrid.azure.net"
        # A secret but no ACS resource: the incoming call cannot be answered here.
        unavailable = await client.post(f"{answer}?secret=s3cret", json=[INCOMING])
        assert unavailable.status_code == 503 and "plugins.acs.endpoint" in unavailable.json()["detail"]


async def test_control_endpoints_need_the_token_when_so_configured(
    make_config: Callable[..., LoadedConfig],
) -> None:
    toml = '[plugins.acs]\ncontrol_access = "token"\ncontrol_token_env = "CONTROL"\n'
    runtime = build_runtime(make_config, DeskLine([]), toml, environ={"CONTROL": "op-token"})
    async with serving(runtime) as base, httpx.AsyncClient() as client:
        for path, body in (("/api/v1/acs/simulate", {}),
                           ("/api/v1/calls/initiate", {"target": "+15550100001"}),
                           ("/api/v1/calls/acs-x/hangup", {})):  # fmt: skip
            response = await client.post(f"{base}{path}", json=body)
            assert response.status_code == 401, path
            assert "control bearer token" in response.json()["detail"]
            wrong = await client.post(f"{base}{path}", json=body, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
        good = {"Authorization": "Bearer op-token"}
        assert (await client.post(f"{base}/api/v1/acs/simulate", json={}, headers=good)).status_code == 201
        missing = await client.post(f"{base}/api/v1/calls/acs-x/hangup", headers=good)
        assert missing.status_code == 404
        no_acs = await client.post(
            f"{base}/api/v1/calls/initiate", json={"target": "+15550100001"}, headers=good
        )
        assert no_acs.status_code == 503


async def test_with_a_jwt_audience_only_acs_signed_requests_get_in(
    make_config: Callable[..., LoadedConfig],
) -> None:
    openid = FakeOpenId()
    config_url = await openid.start()
    acs = FakeAcs(bearer=openid.token)
    await acs.start()
    toml = (f'[plugins.acs]\nendpoint = "{acs.url}"\nkey_env = "ACS_KEY"\njwt_audience = "{AUDIENCE}"\n'
            f'jwt_openid_config_url = "{config_url}"\n')  # fmt: skip
    runtime = build_runtime(make_config, DeskLine([]), toml, environ={"ACS_KEY": KEY})
    try:
        async with serving(runtime) as base, httpx.AsyncClient() as client:
            answered = await client.post(f"{base}/api/v1/calls/answer", json=[INCOMING])
            [call_id] = answered.json()["answered"]
            [fake] = acs.calls.values()
            for _ in range(100):
                if fake.phone is not None and fake.phone.received.audio:
                    break
                await asyncio.sleep(0.05)
            assert fake.phone is not None and fake.phone.received.audio, "ACS's signed media stream got in"
            cb, media = fake.callback_url, fake.media_url
            event = [
                {"type": "Microsoft.Communication.PlayCompleted", "data": {"callConnectionId": "conn-1"}}
            ]
            assert (
                await client.post(cb, json=event, headers={"Authorization": f"Bearer {openid.token()}"})
            ).status_code == 200
            for bearer, why in (
                (None, "missing bearer token"),
                (openid.token(audience="someone-else"), "Audience"),
                (openid.token(expires_in=-60), "expired"),
                (
                    openid.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
                    "Signature",
                ),
                (openid.token(kid="unknown"), "unknown key"),
                ("not-a-jwt", "malformed"),
            ):
                headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
                response = await client.post(cb, json=event, headers=headers)
                assert response.status_code == 401 and why.lower() in response.json()["detail"].lower(), why
            # The media URL with its valid token, but without ACS's JWT: refused.
            assert await refused(media) == (1008, "missing bearer token")
            signed = {"Authorization": f"Bearer {openid.token()}"}
            assert await refused(media, signed) == (1008, "this call's media is already connected")
            assert openid.fetches <= 3, "the keys are cached"
            assert call_id
    finally:
        await acs.stop()
        await openid.stop()
