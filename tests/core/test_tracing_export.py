"""Traces leave the process: the real OTLP/HTTP exporter posting protobuf to a collector on
loopback, and a subscriber in another process continuing a call's trace from the traceparent
its events carry."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from _tracing_kit import exporter, scripted_call, tracing
from artagent.bus.outbox import CallEmitter
from artagent.config import ConfigError, LoadedConfig, parse_config
from artagent.events import CallEnded, CallStarted, Event, TranscriptionReceived
from artagent.observability.export import parse_headers, traces_url, tracing_from_config
from artagent.observability.metrics import CallTelemetry
from artagent.runtime import Runtime
from artagent.session.playout import LoopClock
from artagent.testing import VirtualClock
from fakes.otlp_collector import otlp_collector
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["exporter"]  # the fixture

CHILD = Path(__file__).with_name("_consumer_proc.py")
SERVER, CONSUMER = 2, 5
"""OTLP span kinds, as the protocol numbers them."""


def test_the_otlp_exporter_posts_the_calls_spans_as_protobuf_with_its_headers(
    virtual_clock: VirtualClock, tmp_path: Path
) -> None:
    with otlp_collector() as collector:
        text = (
            f'[observability]\notlp_endpoint = "{collector.url}/"\notlp_headers_env = "OTLP_HEADERS"\n'
            'service_name = "voice-eu"\n'
        )
        env = {"OTLP_HEADERS": "x-api-key=s3cr%3Det, x-team = voice"}
        loaded = parse_config(text, base_dir=tmp_path, environ=env)
        traced = tracing_from_config(loaded, worker="worker-7", version="9.9")

        scripted_call(virtual_clock, traced)
        traced.shutdown()  # flushes the batch processor: its thread posts what is left

        [root] = collector.wait_for("call")
    names = {span.name for span in collector.spans}
    assert {"call", "say", "turn", "end_of_turn", "stt", "chat", "playout", "tts.first_audio"} <= names
    assert "execute_tool handoff_to_billing" in names
    assert {span.trace_id for span in collector.spans} == {root.trace_id}
    assert root.parent_span_id == "" and root.kind == SERVER
    assert root.attributes["artagent.call_id"] == "call-1"
    assert root.resource["service.name"] == "voice-eu"
    assert root.resource["service.instance.id"] == "worker-7"
    assert root.resource["service.version"] == "9.9"
    turns = collector.named("turn")
    assert {turn.parent_span_id for turn in turns} == {root.span_id}
    [tool] = collector.named("execute_tool handoff_to_billing")
    assert [name for name, _ in tool.events] == ["agent_handoff"]
    assert any(name == "barge_in" for turn in turns for name, _ in turn.events)
    assert {r[":path"] for r in collector.requests} == {"/v1/traces"}
    assert all(r["x-api-key"] == "s3cr=et" and r["x-team"] == "voice" for r in collector.requests)


def test_export_settings_are_read_as_documented() -> None:
    assert traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert traces_url("https://otlp.example/v1/traces/") == "https://otlp.example/v1/traces"
    assert parse_headers("") == {}
    assert parse_headers("Authorization=Basic%20abc") == {"authorization": "Basic abc"}
    with pytest.raises(ValueError, match="header 2 is not a key=value pair") as info:
        parse_headers("a=1,secret-token")
    assert "secret-token" not in str(info.value)  # the variable holds a secret: never echoed


def test_a_headers_variable_that_is_not_key_value_pairs_is_an_error_on_its_key(tmp_path: Path) -> None:
    text = '[observability]\notlp_endpoint = "http://127.0.0.1:9"\notlp_headers_env = "H"\n'
    loaded = parse_config(text, base_dir=tmp_path, environ={"H": "Bearer abc"})

    with pytest.raises(ConfigError) as info:
        tracing_from_config(loaded, worker="w")
    assert [issue.path for issue in info.value.issues] == ["observability.otlp_headers_env"]


def test_no_endpoint_means_no_tracing(tmp_path: Path) -> None:
    loaded = parse_config("", base_dir=tmp_path, environ={})
    assert not tracing_from_config(loaded, worker="w").enabled


async def test_a_subscriber_in_another_process_continues_the_calls_trace(
    data_dir: Path, make_config: Callable[..., LoadedConfig], exporter: InMemorySpanExporter
) -> None:
    loaded = make_config(
        f'[runtime]\ndata_dir = "{data_dir}"\ndisable_plugins = ["analytics"]\n[history]\nstore = ""\n'
    )
    runtime = Runtime(loaded, tracing=tracing(exporter))
    await runtime.start()
    out = data_dir / "child-events.jsonl"
    with otlp_collector() as collector:
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(CHILD), str(data_dir), "traced", str(out), "3", "30", collector.url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert child.stdout is not None
            ready = await asyncio.wait_for(child.stdout.readline(), timeout=30)
            assert ready.strip() == b"ready", (ready, await child.stderr.read() if child.stderr else b"")
            published = await publish_a_traced_call(runtime)
            _, stderr = await asyncio.wait_for(child.communicate(), timeout=40)
            assert child.returncode == 0, stderr.decode()[-2000:]
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
            await runtime.stop()
        handled = collector.named("process traced")

    [call_span] = [s for s in exporter.get_finished_spans() if s.name == "call"]
    trace_id, span_id = f"{call_span.context.trace_id:032x}", f"{call_span.context.span_id:016x}"
    assert all((event.traceparent or "").startswith(f"00-{trace_id}-{span_id}-") for event in published)
    assert handled, "the child exported no span"
    assert {span.trace_id for span in handled} == {trace_id}  # the child joined the call's trace
    assert {span.parent_span_id for span in handled} == {span_id}
    assert all(span.kind == CONSUMER for span in handled)
    assert sum(span.attributes["messaging.batch.message_count"] for span in handled) == 3
    assert all(span.attributes["messaging.consumer.group.name"] == "traced" for span in handled)
    assert all(span.links == [(trace_id, span_id)] for span in handled)
    assert handled[0].resource["service.instance.id"].startswith("child-")


async def publish_a_traced_call(runtime: Runtime) -> list[Event]:
    """Three events of one call, emitted inside its span as the launcher does, on the bus."""
    trace = runtime.tracing.call("call-x", LoopClock())
    emitter = CallEmitter("call-x", runtime.outbox, observer=CallTelemetry(trace))
    with trace.active():
        published = [
            emitter.emit(CallStarted, channel="test"),
            emitter.emit(TranscriptionReceived, text="hello"),
            emitter.emit(CallEnded, reason="caller_hangup"),
        ]
    assert await runtime.outbox.flush(timeout=10)
    return published


def test_a_batch_mixing_calls_is_a_trace_of_its_own_linked_to_each_call(
    exporter: InMemorySpanExporter,
) -> None:
    traced = tracing(exporter)
    one = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    other = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    events = [
        CallStarted(call_id="a", traceparent=one),
        CallStarted(call_id="b", traceparent=other),
        CallEnded(call_id="c"),  # a call that is not traced
    ]

    with traced.consuming("history", "artagent:events", events):
        pass
    with traced.consuming("history", "artagent:events", events[:1]):
        pass

    mixed, single = exporter.get_finished_spans()
    assert mixed.parent is None
    assert [(f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in mixed.links] == [
        ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
        ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
    ]
    assert mixed.attributes is not None and "artagent.call_id" not in mixed.attributes
    assert single.parent is not None and f"{single.parent.span_id:016x}" == "b7ad6b7169203331"
    assert f"{single.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert single.attributes is not None and single.attributes["artagent.call_id"] == "a"
