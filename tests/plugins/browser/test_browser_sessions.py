"""``POST /api/v1/browser/sessions`` over real HTTP: tokens for anyone, behind a password, or
for the bearer of an OIDC token checked against a JWKS (served on loopback, or a local file),
and the refusals that name what is wrong; conversations refused before anything is said."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from _browserkit import SECRET, FakeSpeech, serve
from aiohttp import web
from artagent.hookspecs import hookimpl
from artagent.providers import ProviderSpec
from artagent_browser.tokens import SessionTokens
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import connect

ISSUER = "https://id.contoso.test/"
AUDIENCE = "artagent-browser-tests"


class IdentityProvider:
    """An OIDC provider's signing keys (RSA) and the tokens it would issue."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def token(self, key: Any = None, **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ada@contoso.test", "iat": now, "exp": now + 300}
        claims.update(overrides)
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
def provider() -> IdentityProvider:
    return IdentityProvider()


async def _jwks_server(provider: IdentityProvider) -> tuple[web.AppRunner, str, list[int]]:
    fetched: list[int] = []

    async def keys(_: web.Request) -> web.Response:
        fetched.append(1)
        return web.json_response(provider.jwks())

    app = web.Application()
    app.router.add_get("/keys", keys)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/keys", fetched


def _oidc(source: str) -> str:
    return (
        '[plugins.browser]\nauth = "oidc"\nsecret_env = "BROWSER_SECRET"\n'
        f'[plugins.browser.oidc]\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\n{source}\n'
    )


async def test_anyone_gets_a_token_by_default(data_dir: Path) -> None:
    async with serve(data_dir) as server:
        response = await server.http.post("/api/v1/browser/sessions")  # no body at all
        assert response.status_code == 201
        body = response.json()
        assert body["scenario"] == "insurance" and body["expires_in_s"] == 60.0
        assert body["conversation"] == "/api/v1/browser/conversation"
        assert body["call_id"].startswith("browser-")
        unknown = await server.http.post("/api/v1/browser/sessions", json={"scenario": "bakery"})
        assert unknown.status_code == 400
        assert unknown.json()["detail"] == "scenario: no scenario named 'bakery' (scenarios: insurance)"
        typo = await server.http.post("/api/v1/browser/sessions", json={"scenarios": "insurance"})
        assert typo.status_code == 400 and "scenarios" in typo.text


async def test_a_password_guards_the_tokens(data_dir: Path) -> None:
    extra = '[plugins.browser]\nauth = "password"\npassword_env = "PAGE_PASSWORD"\n'
    async with serve(data_dir, extra=extra, environ={"PAGE_PASSWORD": "open sesame"}) as server:
        post = server.http.post
        missing = await post("/api/v1/browser/sessions", json={})
        assert (missing.status_code, missing.json()["detail"]) == (
            401,
            "password: required to start a conversation",
        )
        wrong = await post("/api/v1/browser/sessions", json={"password": "sesame"})
        assert (wrong.status_code, wrong.json()["detail"]) == (401, "password: wrong password")
        right = await post("/api/v1/browser/sessions", json={"password": "open sesame"})
        assert right.status_code == 201
        config = (await server.http.get("/api/v1/browser/config")).json()
        assert config["auth"] == "password"


async def test_an_oidc_bearer_token_is_checked_against_the_jwks(
    data_dir: Path, provider: IdentityProvider
) -> None:
    runner, url, fetched = await _jwks_server(provider)
    try:
        async with serve(data_dir, extra=_oidc(f'jwks_url = "{url}"')) as server:

            async def ask(authorization: str | None) -> Any:
                headers = {"authorization": authorization} if authorization else {}
                return await server.http.post("/api/v1/browser/sessions", json={}, headers=headers)

            granted = await ask(f"Bearer {provider.token()}")
            assert granted.status_code == 201
            claims = jwt.decode(granted.json()["token"], options={"verify_signature": False})
            assert claims["sub"] == "ada@contoso.test"
            assert (await ask(f"Bearer {provider.token(sub='bob')}")).status_code == 201
            assert len(fetched) == 1, "the keys are cached"

            missing = await ask(None)
            assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
            assert "a bearer token from the identity provider is required" in missing.json()["detail"]
            stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            refusals = {
                "Signature has expired": provider.token(exp=int(time.time()) - 120),
                "Audience doesn't match": provider.token(aud="someone-else"),
                "Invalid issuer": provider.token(iss="https://evil.test/"),
                "Signature verification failed": provider.token(key=stranger),
                'Token is missing the "exp" claim': provider.token(exp=None),
            }
            for reason, token in refusals.items():
                refused = await ask(f"Bearer {token}")
                assert refused.status_code == 401, reason
                assert reason in refused.json()["detail"], refused.json()
            forged = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": 2**31}, "k" * 32,
                                algorithm="HS256", headers={"kid": provider.kid})  # fmt: skip
            assert (await ask(f"Bearer {forged}")).status_code == 401
    finally:
        await runner.cleanup()


@pytest.fixture
def jwks_file(provider: IdentityProvider, tmp_path: Path) -> Path:
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(provider.jwks()))
    return keys


async def test_oidc_keys_from_a_local_file(
    data_dir: Path, provider: IdentityProvider, jwks_file: Path
) -> None:
    async with serve(data_dir, extra=_oidc(f'jwks_file = "{jwks_file}"')) as server:
        headers = {"authorization": f"Bearer {provider.token()}"}
        granted = await server.http.post("/api/v1/browser/sessions", json={}, headers=headers)
        assert granted.status_code == 201
        headers = {"authorization": f"Bearer {provider.token(aud='other')}"}
        refused = await server.http.post("/api/v1/browser/sessions", json={}, headers=headers)
        assert refused.status_code == 401


async def test_an_unreachable_identity_provider_is_503(data_dir: Path, provider: IdentityProvider) -> None:
    runner, url, _ = await _jwks_server(provider)
    await runner.cleanup()  # nobody answers there any more
    async with serve(data_dir, extra=_oidc(f'jwks_url = "{url}"')) as server:
        headers = {"authorization": f"Bearer {provider.token()}"}
        down = await server.http.post("/api/v1/browser/sessions", json={}, headers=headers)
        assert down.status_code == 503
        assert down.json()["detail"] == "the identity provider's keys cannot be fetched now"


async def test_a_draining_worker_refuses_new_conversations(data_dir: Path) -> None:
    async with serve(data_dir) as server:
        early = await server.token()
        await server.runtime.calls.drain(1.0)  # no call is active: it drains at once
        refused = await server.http.post("/api/v1/browser/sessions", json={})
        assert refused.status_code == 503 and "no new calls" in refused.json()["detail"]
        async with connect(f"{server.ws_url}?token={early['token']}") as ws:
            await ws.wait_closed()
        assert (ws.close_code, ws.close_reason) == (
            1013,
            "this worker is shutting down and takes no new calls",
        )


class NoRecogniser(FakeSpeech):
    """Speech without a recogniser: calls cannot start on this worker."""

    @hookimpl
    def register_providers(self) -> list[ProviderSpec]:
        return [spec for spec in super().register_providers() if spec.kind != "stt"]


def _signed(server_secret: str, **claims: Any) -> str:
    """A token signed with the server's key, as the plugin derives it from secret_env."""
    key = hashlib.sha256(b"artagent-browser-session:" + server_secret.encode()).digest()
    token, _ = SessionTokens(None, key=key).issue(**claims)  # type: ignore[arg-type]
    return token


async def test_a_worker_without_a_recogniser_refuses_with_the_reason(data_dir: Path) -> None:
    async with serve(data_dir, speech=NoRecogniser(), stt="") as server:
        refused = await server.http.post("/api/v1/browser/sessions", json={})
        assert refused.status_code == 503
        assert refused.json()["detail"] == (
            "calls cannot start here: no stt provider is installed (install a speech or agents plugin)"
        )
        async with connect(f"{server.ws_url}?token={_signed(SECRET, scenario=None, user=None)}") as ws:
            await ws.wait_closed()
        assert ws.close_code == 1011 and "no stt provider is installed" in (ws.close_reason or "")


async def test_a_scenario_gone_since_the_token_was_issued_is_refused(data_dir: Path) -> None:
    async with serve(data_dir) as server:
        token = _signed(SECRET, scenario="bakery", user=None)
        async with connect(f"{server.ws_url}?token={token}") as ws:
            await ws.wait_closed()
        assert (ws.close_code, ws.close_reason) == (1008, "no scenario named 'bakery' (scenarios: insurance)")
        assert not server.runtime.calls


async def test_with_the_operator_routes_guarded_the_page_reads_its_own_call_with_its_view_token(
    data_dir: Path,
) -> None:
    """``[server] api_token_env`` closes ``/api/v1/calls/{id}`` to the page; the view token that
    came with its session token opens that call, and only that call, on the browser's route."""
    extra = '[server]\napi_token_env = "OPERATOR_TOKEN"\n'
    async with serve(data_dir, extra=extra, environ={"OPERATOR_TOKEN": "operator"}) as server:
        session = await server.token()
        other = await server.token()
        call_id, view = session["call_id"], session["view_token"]
        ws = await connect(f"{server.ws_url}?token={session['token']}", max_size=None)
        await ws.send(json.dumps({"type": "hangup"}))
        async for _ in ws:  # until the server closes: the call is over
            pass
        own = f"/api/v1/browser/calls/{call_id}"
        headers = {"authorization": f"Bearer {view}"}
        for _ in range(100):  # the history subscriber folds the call from the bus
            found = await server.http.get(own, headers=headers)
            if found.status_code == 200 and found.json()["status"] == "ended":
                break
            await asyncio.sleep(0.1)
        assert found.status_code == 200 and found.json()["call_id"] == call_id
        assert found.json()["channel"] == "browser"
        closed = await server.http.get(f"/api/v1/calls/{call_id}", headers=headers)
        assert closed.status_code == 401  # the view token is no operator token
        operator_token = {"authorization": "Bearer operator"}
        operator = await server.http.get(f"/api/v1/calls/{call_id}", headers=operator_token)
        assert operator.status_code == 200
        missing = await server.http.get(own)
        assert (missing.status_code, missing.json()["detail"]) == (
            401,
            "Authorization: the call's view token is required (Bearer ...)",
        )
        elsewhere = await server.http.get(f"/api/v1/browser/calls/{other['call_id']}", headers=headers)
        assert elsewhere.status_code == 401
        assert elsewhere.json()["detail"] == f"this view token is for another call, not {other['call_id']!r}"
        session_token = {"authorization": f"Bearer {session['token']}"}
        assert (await server.http.get(own, headers=session_token)).status_code == 401


def test_a_view_token_expires_after_history_ttl_s() -> None:
    tokens = SessionTokens(None, key=b"k" * 32, view_ttl_s=60.0)  # type: ignore[arg-type]
    tokens.verify_view(tokens.issue_view("browser-1"), "browser-1")
    # PyJWT checks exp on the real clock: a token issued 2 minutes ago has expired.
    past = SessionTokens(None, key=b"k" * 32, view_ttl_s=60.0, now=lambda: time.time() - 120)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="view token expired"):
        tokens.verify_view(past.issue_view("browser-1"), "browser-1")
    forged = SessionTokens(None, key=b"x" * 32).issue_view("browser-1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid view token: Signature verification failed"):
        tokens.verify_view(forged, "browser-1")
