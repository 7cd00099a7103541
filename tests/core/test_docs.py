"""The documentation stays true to the code.

docs/events.schema.json and the event tables in docs/events.md are exactly what
scripts/export_event_schema.py makes from the catalogue; every event type, hook, configuration
key (with its default) and HTTP route is documented; the packaged configurations are valid.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
import yaml
from artagent.app import create_app
from artagent.config import Config, parse_config
from artagent.hookspecs import hook_names
from artagent.plugins import ENTRY_POINT_GROUP, PluginHost
from artagent.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLE_PLUGIN = "analytics"
"""The plugin documented alongside core (the worked example in docs/plugins.md)."""


@pytest.fixture(scope="module")
def exporter() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "export_event_schema", ROOT / "scripts" / "export_event_schema.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _only_example_plugin() -> PluginHost:
    """Core plus the analytics plugin, whatever else is installed."""
    others = {ep.name for ep in md.entry_points(group=ENTRY_POINT_GROUP)} - {EXAMPLE_PLUGIN}
    host = PluginHost(disabled=others)
    host.load_entry_points()
    assert EXAMPLE_PLUGIN in host.plugins, host.failures
    return host


# -- events --------------------------------------------------------------------------------
def test_committed_event_schema_is_a_fresh_export(exporter: ModuleType) -> None:
    fresh = exporter.render_schema(exporter.build_catalogue())
    committed = (DOCS / "events.schema.json").read_text(encoding="utf-8")
    assert committed == fresh, "docs/events.schema.json is stale: run python scripts/export_event_schema.py"


def test_event_tables_in_events_md_are_a_fresh_export(exporter: ModuleType) -> None:
    doc = _read("events.md")
    fresh = exporter.splice_tables(doc, exporter.render_tables(exporter.build_catalogue()))
    assert doc == fresh, "docs/events.md tables are stale: run python scripts/export_event_schema.py"


def test_every_event_type_is_in_events_md(exporter: ModuleType) -> None:
    doc = _read("events.md")
    missing = [tag for tag in exporter.build_catalogue().tags() if f"`{tag}`" not in doc]
    assert not missing, f"event types not in docs/events.md: {missing}"


def test_export_check_passes(exporter: ModuleType) -> None:
    assert exporter.main(["--check"]) == 0


# -- hooks ---------------------------------------------------------------------------------
def test_every_hook_has_a_section_in_plugins_md() -> None:
    headings = re.findall(r"^#{2,4} .*?`(\w+)`", _read("plugins.md"), flags=re.MULTILINE)
    missing = [name for name in hook_names() if name not in headings]
    assert hook_names(), "no hooks found"
    assert not missing, f"hooks without a heading in docs/plugins.md: {missing}"


# -- configuration -------------------------------------------------------------------------
def _keys(struct: type[msgspec.Struct], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, default) for every leaf key of a config Struct, recursively."""
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    for field in info.fields:
        path = f"{prefix}{field.name}"
        if isinstance(field.type, mi.StructType):
            yield from _keys(field.type.cls, f"{path}.")
        elif field.default_factory is not msgspec.NODEFAULT:
            yield path, field.default_factory()
        else:
            yield path, field.default


def _documented_keys() -> list[tuple[str, Any]]:
    keys = list(_keys(Config))
    schema = type(_only_example_plugin().decode_configs({})[EXAMPLE_PLUGIN])
    keys += list(_keys(schema, f"plugins.{EXAMPLE_PLUGIN}."))
    return keys


def _default_cell(doc: str, key: str) -> str | None:
    """The Default column of the table row documenting ``key``."""
    match = re.search(rf"^\| `{re.escape(key)}` \|[^|\n]*\|([^|\n]*)\|", doc, flags=re.MULTILINE)
    return match.group(1).strip() if match else None


def test_every_config_key_is_in_configuration_md_with_its_default() -> None:
    doc = _read("configuration.md")
    problems = []
    for key, default in _documented_keys():
        cell = _default_cell(doc, key)
        expected = "not set" if default is None else f"`{json.dumps(default)}`"
        if cell is None:
            problems.append(f"{key}: no table row")
        elif cell != expected:
            problems.append(f"{key}: documented default {cell!r}, code says {expected!r}")
    assert not problems, "docs/configuration.md: " + "; ".join(problems)


SELECTED_IN_FILE = {"session.vad", "session.stt", "session.tts"}
"""Keys runtime.toml sets on purpose: it names the embedded speech providers (the code's empty
default means "the one installed", which stops being one when a cloud speech plugin is added)."""


def test_repository_runtime_toml_holds_the_documented_defaults() -> None:
    """docs/configuration.md gives the code's defaults as those of the repository's runtime.toml."""
    text = (ROOT / "runtime.toml").read_text(encoding="utf-8")
    loaded = parse_config(text, base_dir=ROOT, environ={})
    compared = [key for key, _ in _keys(Config) if key != "plugins" and key not in SELECTED_IN_FILE]
    in_file = {key: _value(loaded.config, key) for key in compared}
    defaults = {key: default for key, default in _keys(Config) if key in compared}
    assert in_file == defaults
    host = _only_example_plugin()
    table = host.decode_configs(loaded.config.plugins)[EXAMPLE_PLUGIN]
    assert table == host.decode_configs({})[EXAMPLE_PLUGIN]


def _value(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


# -- HTTP ----------------------------------------------------------------------------------
def test_every_route_is_in_http_api_md(data_dir: Path) -> None:
    loaded = parse_config(f'[runtime]\ndata_dir = "{data_dir}"\n', base_dir=data_dir, environ={})
    app = create_app(Runtime(loaded, host=_only_example_plugin(), load_entry_points=False))
    doc = _read("http-api.md")
    paths = sorted({re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path) for route in app.routes})
    missing = [p for p in paths if not re.search(re.escape(p) + r"(?![\w/.{}-])", doc)]
    assert "/api/v1/analytics/summary" in paths
    assert not missing, f"routes not in docs/http-api.md: {missing}"


# -- packaging -----------------------------------------------------------------------------
def test_packaged_configurations_are_valid() -> None:
    tokens = ("ARTAGENT_API_TOKEN", "ARTAGENT_METRICS_TOKEN", "ARTAGENT_BROWSER_PASSWORD",
              "ARTAGENT_BROWSER_SECRET")  # fmt: skip
    acs = ("ACS_SIGNING_KEY", "ARTAGENT_CONTROL_TOKEN")  # the pods' phone channel (several pods)
    env = {"ARTAGENT_REDIS_PASSWORD": "test", **dict.fromkeys((*tokens, *acs), "t")}
    image = parse_config((ROOT / "packaging" / "runtime.toml").read_text(), base_dir=ROOT, environ=env)
    assert (image.config.server.host, image.config.bus.redis_url) == ("0.0.0.0", "redis://redis:6379/0")
    configmap = yaml.safe_load((ROOT / "packaging" / "k8s" / "configmap.yaml").read_text())
    k8s = parse_config(configmap["data"]["runtime.toml"], base_dir=ROOT, environ=env)
    assert k8s.secret("bus.redis_password_env") == "test"
    for loaded in (image, k8s):  # reachable from other machines: reads and the page are protected
        assert loaded.secret("server.api_token_env") and loaded.secret("server.metrics_token_env")
        browser = loaded.config.plugins["browser"]
        assert browser["auth"] != "none" and browser["secret_env"]
    compose = yaml.safe_load((ROOT / "packaging" / "compose.yaml").read_text())
    assert set(compose["services"]["app"]["environment"]) == set(tokens)
    deployment = yaml.safe_load((ROOT / "packaging" / "k8s" / "deployment.yaml").read_text())
    env_names = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env_names == {"ARTAGENT_REDIS_PASSWORD", *tokens, *acs}


def test_the_keda_overlay_scales_on_active_calls_with_the_metrics_token() -> None:
    """packaging/k8s-keda: the base minus its CPU-only HPA, plus a KEDA ScaledObject reading
    active_calls from the analytics summary with the Secret's metrics token."""
    from artagent_analytics.store import Summary

    overlay = ROOT / "packaging" / "k8s-keda"
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    assert kustomization["resources"][0] == "../k8s"
    assert "kind: HorizontalPodAutoscaler" in kustomization["patches"][0]["patch"]
    docs = {d["kind"]: d for d in yaml.safe_load_all((overlay / "scaledobject.yaml").read_text())}
    scaled, auth = docs["ScaledObject"], docs["TriggerAuthentication"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "artagent"
    calls = next(t for t in scaled["spec"]["triggers"] if t["type"] == "metrics-api")
    assert calls["metadata"]["url"].endswith("/api/v1/analytics/summary")
    assert calls["metadata"]["valueLocation"] in Summary.__struct_fields__
    assert calls["metadata"]["authMode"] == "bearer"
    assert calls["authenticationRef"]["name"] == auth["metadata"]["name"]
    [secret] = auth["spec"]["secretTargetRef"]
    deployment = yaml.safe_load((ROOT / "packaging" / "k8s" / "deployment.yaml").read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert {"name": secret["name"], "key": secret["key"]} == env["ARTAGENT_METRICS_TOKEN"]
    assert secret["parameter"] == "token"
