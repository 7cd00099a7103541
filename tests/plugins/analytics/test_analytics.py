"""The analytics plugin: discovered by entry point, fed by the bus, served over HTTP and /metrics."""

from __future__ import annotations

import asyncio
import importlib.metadata as md
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from _bus import wait_until
from artagent.app import create_app
from artagent.config import ConfigError, LoadedConfig
from artagent.events import (
    AgentHandoff,
    AgentResponseGenerated,
    CallEnded,
    CallStarted,
    ErrorOccurred,
    Event,
    PlaybackInterrupted,
    ToolCalled,
    ToolCompleted,
    TranscriptionReceived,
    TurnLatency,
)
from artagent.plugins import PluginHost
from artagent.runtime import Runtime
from artagent_analytics.store import AnalyticsStore, Summary
from prometheus_client.parser import text_string_to_metric_families


def test_the_plugin_is_discovered_through_its_entry_point() -> None:
    points = {ep.name: ep for ep in md.entry_points(group="artagent")}
    assert points["analytics"].value == "artagent_analytics.hooks"
    host = PluginHost()
    host.load_entry_points()
    assert "analytics" not in {f.name for f in host.failures}
    assert host.plugins["analytics"].distribution == "artagent-analytics"
    assert host.plugins["analytics"].module == "artagent_analytics.hooks"


@dataclass
class Served:
    runtime: Runtime
    http: httpx.AsyncClient
    store: AnalyticsStore


@pytest.fixture
async def served(data_dir: Path, make_config: Callable[..., LoadedConfig]) -> AsyncIterator[Served]:
    """A runtime with the analytics plugin, started by its app under uvicorn on a free port."""
    runtime = Runtime(make_config(f'[runtime]\ndata_dir = "{data_dir}"\nworker_name = "analytics-test"\n'))
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=0, lifespan="on", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), what="uvicorn to start")
    assert server.started, "the app did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    store = AnalyticsStore(runtime.redis, runtime.plugin_configs["analytics"])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        yield Served(runtime, http, store)
    server.should_exit = True
    await asyncio.wait_for(task, timeout=30)


def scripted_call(call_id: str) -> list[Event]:
    """One call as a session would emit it: 4 turns (3 with a measured latency), a barge-in,
    a handoff, a tool call, an error, and the end."""
    seq = iter(range(1, 100))

    def ev(event_type: type[Event], /, **fields: Any) -> Event:
        return event_type(call_id=call_id, seq=next(seq), **fields)

    return [
        ev(CallStarted, channel="acs", scenario="banking", caller="+15550100"),
        ev(TranscriptionReceived, text="I lost my card"),
        ev(AgentResponseGenerated, agent="auth", turn=1, latency=TurnLatency(stt_ms=80, total_ms=420.0)),
        ev(AgentResponseGenerated, agent="auth", turn=2, latency=TurnLatency(total_ms=610.0)),
        ev(PlaybackInterrupted, agent="auth", turn=2, heard_ms=800.0),
        ev(AgentHandoff, from_agent="auth", to_agent="cards", reason="verified"),
        ev(ToolCalled, tool="block_card", tool_call_id="t1", agent="cards", arguments={"last4": "1234"}),
        ev(ToolCompleted, tool="block_card", tool_call_id="t1", ok=True, duration_ms=35.0),
        ev(AgentResponseGenerated, agent="cards", turn=3, latency=TurnLatency(total_ms=880.0)),
        ev(AgentResponseGenerated, agent="cards", turn=4, latency=None),
        ev(ErrorOccurred, kind="tts_timeout", message="slow synthesis", stage="tts"),
        ev(CallEnded, reason="caller_hangup", duration_ms=65_000.0, outcome="resolved"),
    ]


def metric_samples(text: str, name: str) -> dict[str, float]:
    """Samples of one metric family from a Prometheus exposition, keyed by their label values."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[",".join(sample.labels.values())] = sample.value
    return out


async def summary_is(store: AnalyticsStore, **expected: int) -> bool:
    summary = await store.summary()
    return all(getattr(summary, k) == v for k, v in expected.items())


async def test_a_scripted_call_yields_per_call_and_global_analytics_over_http(served: Served) -> None:
    runtime, http = served.runtime, served.http
    first = scripted_call("call-analytics-1")
    second = [
        CallStarted(call_id="call-analytics-2", seq=1, channel="browser"),
        AgentResponseGenerated(call_id="call-analytics-2", seq=2, latency=TurnLatency(total_ms=300.0)),
    ]
    for event in [*first, *second]:
        runtime.outbox.publish(event)
    await wait_until(lambda: summary_is(served.store, calls_started=2, turns=5), what="both calls counted")

    response = await http.get("/api/v1/analytics/calls/call-analytics-1")
    assert response.status_code == 200
    call = response.json()
    counts = {"turns": 4, "barge_ins": 1, "handoffs": 1, "tool_calls": 1, "escalations": 0, "errors": 1}
    assert {k: call[k] for k in counts} == counts
    assert (call["channel"], call["scenario"], call["outcome"], call["end_reason"]) == (
        "acs", "banking", "resolved", "caller_hangup",
    )  # fmt: skip
    assert call["duration_ms"] == 65_000.0
    assert call["started_at"] == first[0].occurred_at.isoformat()
    assert call["ended_at"] == first[-1].occurred_at.isoformat()
    assert call["latency"] == {
        "turns": 3,
        "p50_ms": 610.0,
        "p95_ms": 880.0,
        "mean_ms": 636.7,
        "max_ms": 880.0,
    }

    response = await http.get("/api/v1/analytics/summary")
    assert response.status_code == 200
    summary = response.json()
    assert (summary["calls_started"], summary["calls_ended"]) == (2, 1)
    # Active calls are those live workers carry, not started minus ended: these events came from
    # a script, and the one worker (this runtime) carries no call.
    assert (summary["active_calls"], summary["workers"]) == (0, 1)
    assert (summary["turns"], summary["barge_ins"], summary["tool_calls"]) == (5, 1, 1)
    assert summary["outcomes"] == {"resolved": 1}
    assert summary["latency"]["turns"] == 4
    assert summary["latency"]["p50_ms"] == 515.0  # median of 300, 420, 610, 880

    missing = await http.get("/api/v1/analytics/calls/no-such-call")
    assert missing.status_code == 404
    assert "no-such-call" in missing.json()["detail"]

    metrics = (await http.get("/metrics")).text
    assert metric_samples(metrics, "artagent_analytics_events_total") == {
        "calls_started": 2, "turns": 5, "barge_ins": 1, "handoffs": 1, "tool_calls": 1, "errors": 1,
        "calls_ended": 1,
    }  # fmt: skip
    assert metric_samples(metrics, "artagent_analytics_turn_latency_seconds_count") == {"": 4}


async def test_redelivered_and_replayed_events_are_not_counted_twice(served: Served) -> None:
    runtime, store = served.runtime, served.store
    events = scripted_call("call-once")
    for event in events:
        runtime.outbox.publish(event)
    await wait_until(lambda: summary_is(store, calls_started=1, calls_ended=1), what="the call counted")
    before_call, before_summary = await store.call("call-once"), await store.summary()

    # The same events again on the wire (an outbox replay after an ambiguous failure) ...
    for event in events:
        runtime.outbox.publish(event)
    # ... and every entry of the stream delivered to the group a second time.
    stream, group = runtime.config.bus.stream, runtime.plugin_configs["analytics"].group
    assert await runtime.outbox.flush()
    counted_twice = sum(1 for e in events if not isinstance(e, (TranscriptionReceived, ToolCompleted)))

    async def dropped() -> float:
        metrics = (await served.http.get("/metrics")).text
        return metric_samples(metrics, "artagent_bus_duplicates_dropped_total").get("analytics", 0.0)

    async def replay_dropped() -> bool:
        return await dropped() == counted_twice

    await wait_until(replay_dropped, what="the wire replay read and dropped")
    await runtime.redis.xgroup_setid(stream, group, "0")
    runtime.outbox.publish(CallStarted(call_id="call-marker", seq=1))
    await wait_until(lambda: summary_is(store, calls_started=2), what="the marker call after the replays")

    assert await store.call("call-once") == before_call
    after = await store.summary()
    assert after == Summary(**{**_fields(before_summary), "calls_started": 2})  # none carried: 0 active
    metrics = (await served.http.get("/metrics")).text
    assert metric_samples(metrics, "artagent_analytics_events_total")["turns"] == 4
    # The wire replay drops each once; the rewind redelivers both copies, and drops both.
    assert await dropped() == 3 * counted_twice


def _fields(summary: Summary) -> dict[str, Any]:
    return {f: getattr(summary, f) for f in summary.__struct_fields__}


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ("latency_windw = 10", "plugins.analytics.latency_windw", "unknown key"),
        ("call_ttl_s = 0", "plugins.analytics.call_ttl_s", ">= 1"),
        ('group = ["a"]', "plugins.analytics.group", "Expected `str`"),
    ],
)
def test_config_errors_name_the_analytics_key(
    make_config: Callable[..., LoadedConfig], table: str, key: str, message: str
) -> None:
    loaded = make_config(f"[plugins.analytics]\n{table}\n")
    with pytest.raises(ConfigError) as caught:
        Runtime(loaded)
    assert [issue.path for issue in caught.value.issues] == [key]
    assert message in str(caught.value)


def test_its_config_table_chooses_the_consumer_group_and_key_prefix(
    make_config: Callable[..., LoadedConfig],
) -> None:
    runtime = Runtime(
        make_config('[plugins.analytics]\ngroup = "analytics-eu"\nkey_prefix = "eu:analytics"\n')
    )
    assert [s.group for s in runtime.consumers.subscriptions] == ["history", "analytics-eu"]
    assert runtime.plugin_configs["analytics"].key_prefix == "eu:analytics"
    assert runtime.plugins.plugins["analytics"].registered["register_subscribers"] == [
        "subscriber analytics-eu"
    ]
