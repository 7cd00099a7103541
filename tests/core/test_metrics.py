"""The metrics as one set: counted from a call's events as they are emitted, every metric a
worker exports documented in docs/observability.md (and nothing documented that none exports),
and the Grafana dashboard querying only documented metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from artagent.config import parse_config
from artagent.events import (
    AgentHandoff,
    AgentResponseGenerated,
    CallEnded,
    CallStarted,
    ErrorOccurred,
    EscalationRequested,
    ToolCompleted,
    TranscriptionReceived,
    TurnLatency,
)
from artagent.observability.metrics import CallMetrics
from artagent.runtime import Runtime
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "observability.md"
DASHBOARD = ROOT / "packaging" / "grafana" / "artagent.json"


def test_what_calls_do_is_counted_from_their_events() -> None:
    registry = CollectorRegistry()
    metrics = CallMetrics(registry)
    for event in [
        CallStarted(call_id="c"),
        TranscriptionReceived(call_id="c", text="hi"),
        AgentResponseGenerated(call_id="c", agent="AuthAgent"),  # the greeting: not a turn
        AgentResponseGenerated(call_id="c", agent="AuthAgent", latency=TurnLatency(total_ms=600.0)),
        AgentResponseGenerated(call_id="c", agent="ClaimsAgent"),  # the same reply, after a handoff
        AgentHandoff(call_id="c", from_agent="AuthAgent", to_agent="ClaimsAgent"),
        ToolCompleted(call_id="c", tool="verify", ok=True, duration_ms=250.0),
        ToolCompleted(call_id="c", tool="verify", ok=False, duration_ms=10_000.0),
        ErrorOccurred(call_id="c", stage="reply", kind="TimeoutError"),
        EscalationRequested(call_id="c", agent="ClaimsAgent", reason="asked for a person"),
        CallEnded(call_id="c", reason="transferred"),
    ]:
        metrics.count(event)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("artagent_calls_started_total") == 1
    assert value("artagent_turns_total") == 1
    assert value("artagent_handoffs_total", from_agent="AuthAgent", to_agent="ClaimsAgent") == 1
    assert value("artagent_tool_calls_total", tool="verify", ok="true") == 1
    assert value("artagent_tool_calls_total", tool="verify", ok="false") == 1
    assert value("artagent_tool_duration_seconds_sum", tool="verify") == pytest.approx(10.25)
    assert value("artagent_errors_total", stage="reply", kind="TimeoutError") == 1
    assert value("artagent_escalations_total", agent="ClaimsAgent") == 1
    assert value("artagent_calls_ended_total", reason="transferred") == 1


def documented() -> dict[str, str]:
    """Metric name -> type, from the table in docs/observability.md."""
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- metrics-table:begin -->")[1].split("<!-- metrics-table:end -->")[0]
    return dict(re.findall(r"^\| `(artagent_\w+)` \| (\w+) \|", table, flags=re.MULTILINE))


def exported(registry: CollectorRegistry) -> dict[str, str]:
    """Metric name as it reaches Prometheus (counters with ``_total``) -> type."""
    found = {}
    for family in registry.collect():
        if family.name.startswith("artagent_"):
            suffix = "_total" if family.type == "counter" else ""
            found[family.name + suffix] = family.type
    return found


def test_every_metric_a_worker_exports_is_documented_and_every_documented_one_exists(data_dir: Path) -> None:
    acs = pytest.importorskip("artagent_acs.metrics")
    loaded = parse_config(f'[runtime]\ndata_dir = "{data_dir}"\n', base_dir=data_dir, environ={})
    registry = Runtime(loaded).registry
    acs.AcsMetrics(registry)  # registered with the plugin's routes, when ACS is configured
    metrics = exported(registry)

    assert metrics == documented()


def test_the_dashboard_queries_documented_metrics_only() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    used = {
        re.sub(r"_(bucket|sum|count)$", "", name)
        for expr in exprs
        for name in re.findall(r"artagent_\w+", expr)
    }
    names = documented()

    assert used - set(names) == set()
    for needed in ("artagent_active_calls", "artagent_turn_latency_seconds", "artagent_interruptions_total",
                   "artagent_handoffs_total", "artagent_errors_total", "artagent_outbox_spill_depth",
                   "artagent_bus_consumer_lag_seconds", "artagent_local_speech_queue_depth"):  # fmt: skip
        assert needed in used, needed
    assert all(
        panel["datasource"]["uid"] == "${datasource}"
        for panel in dashboard["panels"]
        if "datasource" in panel
    )
