"""The HTTP app under a real uvicorn server on loopback, with a real runtime and embedded bus."""

from __future__ import annotations

import asyncio
import importlib.metadata as md
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import uvicorn
from artagent import __version__
from artagent.app import create_app
from artagent.bus.redis import EmbeddedRedis
from artagent.config import LoadedConfig
from artagent.events import CallStarted, Event, SpeechStarted
from artagent.hookspecs import hookimpl
from artagent.plugins import ENTRY_POINT_GROUP, PluginHost
from artagent.runtime import Runtime
from litestar import Litestar
from prometheus_client.parser import text_string_to_metric_families

MakeConfig = Callable[..., LoadedConfig]


@asynccontextmanager
async def serving(app: Litestar, lifespan: Literal["on", "off"] = "on") -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app`` under uvicorn on 127.0.0.1, any free port; yield a client for it."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan=lifespan, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:
                if task.done():
                    task.result()
                    raise AssertionError("uvicorn exited before it started serving")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


class FraudScored(Event, frozen=True, kw_only=True, tag="fraud_scored"):
    score: float = 0.0


class FraudPlugin:
    @hookimpl
    def register_event_types(self) -> list[type[Event]]:
        return [FraudScored]


def other_plugins() -> list[str]:
    """Installed plugins other than analytics: these tests are about the app, not about them (a
    speech plugin, say, would keep readiness at 503 while it warms its models up)."""
    return sorted({ep.name for ep in md.entry_points(group=ENTRY_POINT_GROUP)} - {"analytics"})


@pytest.fixture
def runtime(make_config: MakeConfig) -> Runtime:
    """The analytics plugin plus a plugin object adding its own event type."""
    host = PluginHost(disabled=other_plugins())
    host.register("fraud", FraudPlugin())
    return Runtime(make_config(), host=host)


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_app(runtime)) as http:
        yield http


# -- liveness and readiness ----------------------------------------------------------------
async def test_lifespan_starts_and_stops_the_runtime(runtime: Runtime, data_dir: Path) -> None:
    async with serving(create_app(runtime)) as http:
        health = await http.get("/health")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        ready = await http.get("/readiness")
        assert ready.status_code == 200
        body = ready.json()
        assert body["ready"] is True
        assert body["not_ready"] == []
        assert body["checks"] == {"plugins": "ok", "bus": "ok"}
        assert body["worker"] == runtime.worker
        assert EmbeddedRedis(data_dir).is_alive()
    # Shutting the server down stopped the runtime and the embedded Redis it started.
    assert runtime.draining
    assert not EmbeddedRedis(data_dir).is_alive()


async def test_readiness_is_503_until_the_bus_is_connected(runtime: Runtime) -> None:
    # Without the lifespan the runtime is not started: the server answers, the bus is not there.
    async with serving(create_app(runtime), lifespan="off") as http:
        assert (await http.get("/health")).status_code == 200
        before = await http.get("/readiness")
        assert before.status_code == 503
        assert before.headers["content-type"].startswith("application/json")
        body = before.json()
        assert body["ready"] is False
        assert body["not_ready"] == ["bus"]
        assert body["checks"]["bus"] == "not connected yet"
        assert body["checks"]["plugins"] == "ok"

        async with runtime.running():
            during = await http.get("/readiness")
            assert during.status_code == 200
            assert during.json()["ready"] is True

        after = await http.get("/readiness")
        assert after.status_code == 503
        assert "draining" in after.json()["not_ready"]


# -- documents -----------------------------------------------------------------------------
async def test_openapi_lists_the_api_and_plugin_routes(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"] == {"title": "ARTAgent", "version": __version__}
    paths = set(doc["paths"])
    assert {"/health", "/readiness", "/api/v1/plugins", "/asyncapi"} <= paths
    assert "/api/v1/analytics/summary" in paths  # mounted from the analytics plugin

    page = await client.get("/schema")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/api/v1/plugins" in page.text


async def test_plugins_endpoint_lists_analytics(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/plugins")
    assert response.status_code == 200
    body = response.json()
    by_name = {p["name"]: p for p in body["plugins"]}
    analytics = by_name["analytics"]
    assert analytics["distribution"] == "artagent-analytics"
    assert analytics["version"]
    assert analytics["module"] == "artagent_analytics.hooks"
    assert analytics["registered"]["register_subscribers"] == ["subscriber analytics"]
    assert by_name["fraud"]["registered"] == {"register_event_types": ["FraudScored"]}
    assert body["failed"] == []


async def test_plugins_endpoint_lists_plugins_that_failed(
    make_config: MakeConfig, fake_distribution: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = fake_distribution(
        "fake_broken", {"broken": "fake_broken_mod"}, {"fake_broken_mod": "raise ImportError('no libfoo')\n"}
    )
    others = other_plugins()
    monkeypatch.syspath_prepend(str(site))
    runtime = Runtime(make_config(f"[runtime]\ndisable_plugins = {others!r}\n"))
    async with serving(create_app(runtime)) as http:
        body = (await http.get("/api/v1/plugins")).json()
        assert (await http.get("/readiness")).status_code == 200  # the runtime started without it
    [failed] = body["failed"]
    assert failed["name"] == "broken"
    assert failed["distribution"] == "fake_broken"
    assert "no libfoo" in failed["error"]
    assert "analytics" in {p["name"] for p in body["plugins"]}


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient, runtime: Runtime) -> None:
    emitter = runtime.outbox.for_call("call-m")
    emitter.emit(CallStarted, channel="browser")
    emitter.emit(SpeechStarted, offset_ms=5.0)
    assert await runtime.outbox.flush(timeout=10)

    response = await client.get("/metrics")
    assert response.status_code == 200
    content_type = response.headers["content-type"]
    assert content_type.startswith("text/plain; version=")
    assert content_type.count("charset") == 1, content_type
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    assert samples["artagent_outbox_depth"] == 0
    assert samples["artagent_outbox_published_total"] == 2
    assert samples["artagent_bus_connected"] == 1
    assert "artagent_outbox_spill_depth" in samples


# -- the bus document ----------------------------------------------------------------------
def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


async def test_asyncapi_documents_every_event_type(client: httpx.AsyncClient, runtime: Runtime) -> None:
    response = await client.get("/asyncapi")
    assert response.status_code == 200
    doc = response.json()
    assert doc["asyncapi"] == "3.0.0"
    schemas = doc["components"]["schemas"]
    assert "FraudScored" in {t.__name__ for t in runtime.catalogue}
    for event_type in runtime.catalogue:
        schema = schemas[event_type.__name__]
        assert event_type.type_tag() in str(schema["properties"]["type"])

    union = schemas["Event"]
    mapping = union["discriminator"]["mapping"]
    assert set(mapping) == set(runtime.catalogue.tags())
    assert mapping["fraud_scored"] == "#/components/schemas/FraudScored"

    messages = doc["components"]["messages"]
    assert messages, "the bus document describes no messages"
    for name, message in messages.items():
        assert message["payload"] == {"$ref": "#/components/schemas/Event"}, name
    channels = {c["address"] for c in doc["channels"].values()}
    assert channels == {runtime.config.bus.stream}


async def test_asyncapi_references_all_resolve(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/asyncapi")).json()
    unresolved = []
    for ref in _refs(doc):
        try:
            _resolve(doc, ref)
        except (KeyError, TypeError):
            unresolved.append(ref)
    assert unresolved == []
