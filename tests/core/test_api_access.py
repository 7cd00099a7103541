"""The operator and read APIs behind ``[server] api_token_env`` (and ``/metrics`` also behind
``metrics_token_env``), on a real uvicorn server with the installed plugins' routes: each
protected route refuses a request without the token and one with a wrong token (401 naming the
problem), and answers with it; probes, the page's own routes and the channels stay open."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from _history_kit import insurance_call
from artagent.access import ApiAccess
from artagent.app import create_app
from artagent.config import ConfigError, LoadedConfig
from artagent.plugins import PluginHost
from artagent.runtime import Runtime
from litestar import Litestar
from test_app import serving

MakeConfig = Callable[..., LoadedConfig]
API_TOKEN = "operator-token-for-tests"
METRICS_TOKEN = "scraper-token-for-tests"
GUARDED = """
[server]
api_token_env = "TEST_API_TOKEN"
metrics_token_env = "TEST_METRICS_TOKEN"
"""
ENVIRON = {"TEST_API_TOKEN": API_TOKEN, "TEST_METRICS_TOKEN": METRICS_TOKEN}

PROTECTED = [
    "/api/v1/calls",
    "/api/v1/calls/call-42",
    "/api/v1/plugins",
    "/asyncapi",
    "/api/v1/agents",
    "/api/v1/agents/auth",
    "/api/v1/analytics/calls/call-42",
    "/api/v1/insurance/claims",
    "/api/v1/insurance/claims/CLM-0000",
]
OPEN = ["/health", "/readiness", "/schema/openapi.json", "/api/v1/browser/config", "/"]
REQUIRED = "Authorization: a bearer token is required (the token of [server] api_token_env)"
NOT_VALID = "Authorization: the bearer token is not valid (expected the token of [server] api_token_env)"


def _runtime(loaded: LoadedConfig) -> Runtime:
    """Every installed plugin but the local speech models (nothing here speaks)."""
    host = PluginHost(disabled=["local_speech"])
    host.load_entry_points()
    return Runtime(loaded, host=host, load_entry_points=False)


@pytest.fixture
async def guarded(make_config: MakeConfig) -> AsyncIterator[httpx.AsyncClient]:
    runtime = _runtime(make_config(GUARDED, environ=ENVIRON))
    async with serving(create_app(runtime)) as http:
        assert runtime.history.store is not None
        await runtime.history.store.apply(insurance_call("call-42"))
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", PROTECTED)
async def test_each_read_route_needs_the_api_token(guarded: httpx.AsyncClient, path: str) -> None:
    missing = await guarded.get(path)
    assert missing.status_code == 401, missing.text
    assert missing.json()["detail"] == REQUIRED
    assert missing.headers["www-authenticate"] == 'Bearer realm="artagent"'
    for wrong in ({"authorization": "Bearer not-the-token"}, {"authorization": f"Basic {API_TOKEN}"}):
        refused = await guarded.get(path, headers=wrong)
        assert refused.status_code == 401
    assert (await guarded.get(path, headers=bearer("not-the-token"))).json()["detail"] == NOT_VALID
    # The scraper's token opens /metrics only.
    assert (await guarded.get(path, headers=bearer(METRICS_TOKEN))).status_code == 401
    allowed = await guarded.get(path, headers=bearer(API_TOKEN))
    assert allowed.status_code in (200, 404), allowed.text  # 404: no such claim, no analytics yet


async def test_the_history_answers_with_the_token(guarded: httpx.AsyncClient) -> None:
    call = await guarded.get("/api/v1/calls/call-42", headers=bearer(API_TOKEN))
    assert call.status_code == 200 and call.json()["transcript"][0]["text"] == "Hello, this is Contoso."
    listed = await guarded.get("/api/v1/calls", headers=bearer(API_TOKEN))
    assert [c["call_id"] for c in listed.json()["calls"]] == ["call-42"]


async def test_the_analytics_summary_takes_the_scraper_token_too(guarded: httpx.AsyncClient) -> None:
    """Counts only, read by the autoscaler: the metrics token opens it, not the transcripts."""
    path = "/api/v1/analytics/summary"
    assert (await guarded.get(path)).status_code == 401
    assert (await guarded.get(path, headers=bearer("nope"))).status_code == 401
    for token in (METRICS_TOKEN, API_TOKEN):
        answer = await guarded.get(path, headers=bearer(token))
        assert answer.status_code == 200 and answer.json()["workers"] == 1


async def test_metrics_take_the_scraper_token_or_the_api_token(guarded: httpx.AsyncClient) -> None:
    missing = await guarded.get("/metrics")
    assert missing.status_code == 401
    assert missing.json()["detail"] == (
        "Authorization: a bearer token is required "
        "(the token of [server] metrics_token_env or [server] api_token_env)"
    )
    assert (await guarded.get("/metrics", headers=bearer("nope"))).status_code == 401
    for token in (METRICS_TOKEN, API_TOKEN):
        scraped = await guarded.get("/metrics", headers=bearer(token))
        assert scraped.status_code == 200 and "artagent_active_calls" in scraped.text


@pytest.mark.parametrize("path", OPEN)
async def test_probes_the_schema_and_the_page_stay_open(guarded: httpx.AsyncClient, path: str) -> None:
    response = await guarded.get(path)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:200]}"


async def test_without_tokens_configured_everything_is_open(make_config: MakeConfig) -> None:
    runtime = _runtime(make_config())
    async with serving(create_app(runtime)) as http:
        for path in [*PROTECTED, "/metrics", "/api/v1/analytics/summary"]:
            assert (await http.get(path)).status_code in (200, 404), path  # 404: nothing stored


def test_a_token_named_but_not_set_is_a_configuration_error(make_config: MakeConfig) -> None:
    missing = r"server\.api_token_env: environment variable TEST_API_TOKEN is not set"
    with pytest.raises(ConfigError, match=missing):
        make_config(GUARDED, environ={"TEST_METRICS_TOKEN": METRICS_TOKEN})


def _route_guards(app: Litestar) -> dict[str, bool]:
    """Every GET path of the app -> whether a guard protects it."""
    found: dict[str, bool] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if "GET" in (getattr(handler, "http_methods", None) or ()):
                found[route.path] = bool(handler.resolve_guards())
    return found


def test_every_get_route_is_guarded_or_deliberately_open(make_config: MakeConfig) -> None:
    """A new read route must choose: behind the operator guard, or on this documented list."""
    app = create_app(_runtime(make_config()))
    deliberately_open = {
        "/health", "/readiness", "/", "/browser/{file_path:path}", "/api/v1/browser/config",
        "/api/v1/browser/calls/{call_id:str}",  # the page's own call, with its view token
    }  # fmt: skip
    unguarded = {
        path for path, guarded in _route_guards(app).items()
        if not guarded and path not in deliberately_open and not path.startswith("/schema")
    }  # fmt: skip
    assert not unguarded, f"GET routes with no guard: {sorted(unguarded)}"


def test_access_compares_tokens_and_names_the_keys() -> None:
    access = ApiAccess(api_token="a")
    assert access.is_open("metrics") is False and ApiAccess().is_open("api")
    access.check("Bearer a")
    access.check("bearer   a  ")
    with pytest.raises(Exception, match="not valid"):
        access.check("Bearer ab")
