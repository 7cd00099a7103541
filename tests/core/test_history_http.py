"""``GET /api/v1/calls`` and ``GET /api/v1/calls/{call_id}`` on a real uvicorn server: filters,
cursor pagination, and every bad query parameter named in its 400."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from _history_kit import T0, insurance_call, short_call
from artagent.app import create_app
from artagent.config import LoadedConfig
from artagent.plugins import PluginHost
from artagent.runtime import Runtime
from test_app import serving

MakeConfig = Callable[..., LoadedConfig]


@pytest.fixture
async def client(make_config: MakeConfig) -> AsyncIterator[httpx.AsyncClient]:
    runtime = Runtime(make_config(), host=PluginHost(), load_entry_points=False)
    async with serving(create_app(runtime)) as http:
        assert runtime.history.store is not None
        await runtime.history.store.apply(insurance_call("call-42", T0))
        for i in range(5):
            outcome, agent = ("resolved", "auth") if i % 2 == 0 else ("escalated", "claims")
            await runtime.history.store.apply(
                short_call(f"c-{i}", T0 + dt.timedelta(hours=i + 1), outcome=outcome, agent=agent)
            )
        yield http


async def ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/api/v1/calls", params=params)
    assert response.status_code == 200, response.text
    return [c["call_id"] for c in response.json()["calls"]]


async def test_calls_are_listed_newest_first_with_their_summaries(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/calls")).json()
    assert [c["call_id"] for c in body["calls"]] == ["c-4", "c-3", "c-2", "c-1", "c-0", "call-42"]
    assert body["next_cursor"] is None
    oldest = body["calls"][-1]
    assert oldest["started_at"] == "2026-11-22T09:14:04Z" and oldest["outcome"] == "resolved"
    assert oldest["agents"] == ["auth", "claims"] and "transcript" not in oldest


async def test_filters_by_time_outcome_and_agent(client: httpx.AsyncClient) -> None:
    assert await ids(client, outcome="escalated") == ["c-3", "c-1"]
    assert await ids(client, agent="claims") == ["c-3", "c-1", "call-42"]
    assert await ids(client, since="2026-11-22T11:00:00Z", until="2026-11-22T13:14:04+00:00") == [
        "c-2",
        "c-1",
    ]
    assert await ids(client, since="2026-11-22T12:14:04") == ["c-4", "c-3", "c-2"]  # no offset: UTC
    assert await ids(client, outcome="resolved", agent="auth", since="2026-11-22T11:00:00Z") == ["c-4", "c-2"]
    assert await ids(client, outcome="nothing-like-it") == []


async def test_pages_are_followed_by_cursor(client: httpx.AsyncClient) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/api/v1/calls", params=params)).json()
        seen += [c["call_id"] for c in body["calls"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 2 and seen == ["c-4", "c-3", "c-2", "c-1", "c-0", "call-42"]
    filtered = (await client.get("/api/v1/calls", params={"limit": 1, "agent": "claims"})).json()
    rest = await ids(client, agent="claims", cursor=filtered["next_cursor"])
    assert [c["call_id"] for c in filtered["calls"]] + rest == ["c-3", "c-1", "call-42"]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"limit": "0"}, "limit", "Expected `int` >= 1"),
        ({"limit": "201"}, "limit", "Expected `int` <= 200"),
        ({"limit": "many"}, "limit", "Expected `int`"),
        ({"since": "yesterday"}, "since", "datetime"),
        ({"until": "2026-13-01T00:00:00Z"}, "until", "datetime"),
        ({"since": "2026-11-23T00:00:00Z", "until": "2026-11-22T00:00:00Z"}, "until", "later than since"),
        ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor", "not a cursor"),
        ({"cursor": "%%%"}, "cursor", "not a cursor"),
        ({"outcom": "resolved"}, "outcom", "unknown query parameter"),
    ],
)
async def test_a_bad_query_parameter_is_a_400_naming_it(
    client: httpx.AsyncClient, params: dict[str, str], field: str, message: str
) -> None:
    response = await client.get("/api/v1/calls", params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["detail"].startswith(f"{field}: ") and message in body["detail"], body
    assert body["extra"][0]["key"] == field


async def test_one_call_is_served_from_the_history(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/calls/call-42")
    assert response.status_code == 200
    doc = response.json()
    assert (doc["live"], doc["status"], doc["outcome"], doc["end_reason"]) == (
        False,
        "ended",
        "resolved",
        "caller_hangup",
    )
    assert [t["text"] for t in doc["transcript"]][:2] == [
        "Hello, this is Contoso.",
        "I want to file a claim.",
    ]
    assert doc["tool_calls"][0]["result"] == {"holder": "Ana"} and doc["latency"]["total"]["p95_ms"] == 970.0
    missing = await client.get("/api/v1/calls/call-nobody")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no call 'call-nobody': not live and not in the history"


async def test_with_the_history_disabled_the_list_says_so(make_config: MakeConfig) -> None:
    runtime = Runtime(make_config('[history]\nstore = ""\n'), host=PluginHost(), load_entry_points=False)
    assert runtime.consumers.subscriptions == []
    async with serving(create_app(runtime)) as http:
        response = await http.get("/api/v1/calls")
        assert response.status_code == 503 and "[history] store is empty" in response.json()["detail"]
        assert (await http.get("/api/v1/calls/c-1")).status_code == 404
