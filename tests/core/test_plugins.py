"""Plugin discovery, failures, per-plugin configuration, and the hook surface."""

from __future__ import annotations

import importlib.metadata as md
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from artagent import hookspecs
from artagent.config import ConfigError, LoadedConfig
from artagent.events import CORE_EVENT_TYPES, DuplicateEventTypeError, Event, EventCatalogue
from artagent.hookspecs import hookimpl
from artagent.plugins import PluginHost, PluginLoadError
from artagent.runtime import Runtime
from prometheus_client import CollectorRegistry

REPO_ROOT = Path(__file__).resolve().parents[2]
MakeConfig = Callable[..., LoadedConfig]
FakeDist = Callable[..., Path]


@pytest.fixture
def broken_plugin(fake_distribution: FakeDist, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed plugin whose module raises ImportError when imported."""
    site = fake_distribution(
        "fake_broken",
        {"broken": "fake_broken_mod"},
        {"fake_broken_mod": 'raise ImportError("needs libfoo 3, found libfoo 2")\n'},
    )
    monkeypatch.syspath_prepend(str(site))
    return site


class FraudScored(Event, frozen=True, kw_only=True, tag="fraud_scored"):
    score: float = 0.0


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    threshold: float = 0.5


class FraudPlugin:
    """A plugin object, as a test or a built-in registers it."""

    def __init__(self) -> None:
        self.seen_config: list[Any] = []

    @hookimpl
    def plugin_config_schema(self) -> type[Settings]:
        return Settings

    @hookimpl
    def register_event_types(self) -> list[type[Event]]:
        return [FraudScored]

    @hookimpl
    def register_routes(self, config: Settings) -> list[Any]:
        self.seen_config.append(config)
        return []


class NoSettingsPlugin:
    @hookimpl
    def register_routes(self) -> list[Any]:
        return []


def runtime_with(make_config: MakeConfig, text: str = "", **plugins: Any) -> Runtime:
    host = PluginHost()
    for name, obj in plugins.items():
        host.register(name, obj)
    return Runtime(make_config(text), host=host, load_entry_points=False)


# -- discovery -----------------------------------------------------------------------------
def test_analytics_is_discovered_through_its_entry_point() -> None:
    host = PluginHost()
    host.load_entry_points()
    info = host.plugins["analytics"]
    assert info.distribution == "artagent-analytics"
    assert info.version == md.version("artagent-analytics")
    assert info.module == "artagent_analytics.hooks"
    assert host.failures == []
    assert host.pm.get_plugin("analytics") is not None


def test_disabled_plugin_is_not_loaded(make_config: MakeConfig) -> None:
    host = PluginHost(disabled=["analytics"])
    host.load_entry_points()
    assert "analytics" not in host.plugins
    assert host.failures == []
    assert host.pm.get_plugin("analytics") is None

    # (the verticals and channels are disabled too: theirs are the only other routes installed)
    runtime = Runtime(
        make_config('[runtime]\ndisable_plugins = ["analytics", "insurance", "acs", "browser"]\n')
    )
    assert "analytics" not in runtime.plugins.plugins
    assert runtime.routes == []
    assert [s.group for s in runtime.consumers.subscriptions] == ["history"], "core's own subscriber only"


def test_enabled_analytics_registers_its_subscriber_and_routes(make_config: MakeConfig) -> None:
    runtime = Runtime(make_config())
    assert [s.group for s in runtime.consumers.subscriptions] == ["history", "analytics"]
    assert runtime.routes, "analytics registered no routes"
    registered = runtime.plugins.plugins["analytics"].registered
    assert set(registered) == {"register_subscribers", "register_routes"}


def test_broken_plugin_is_reported_and_the_runtime_continues(
    broken_plugin: Path, make_config: MakeConfig
) -> None:
    runtime = Runtime(make_config())
    [failure] = runtime.plugins.failures
    assert failure.name == "broken"
    assert failure.distribution == "fake_broken"
    assert "ImportError" in failure.error
    assert "needs libfoo 3, found libfoo 2" in failure.error
    assert "broken" not in runtime.plugins.plugins
    assert "analytics" in runtime.plugins.plugins
    # Its table, if any, is not a second error: the failure already says what is wrong.
    Runtime(make_config("[plugins.broken]\nx = 1\n"))


def test_broken_plugin_stops_a_strict_host(broken_plugin: Path) -> None:
    host = PluginHost(strict=True)
    with pytest.raises(PluginLoadError, match="needs libfoo 3") as info:
        host.load_entry_points()
    assert "broken" in str(info.value)


def test_strict_plugins_in_config_stops_the_runtime(broken_plugin: Path, make_config: MakeConfig) -> None:
    with pytest.raises(PluginLoadError, match="plugin broken: import failed: ImportError"):
        Runtime(make_config("[runtime]\nstrict_plugins = true\n"))


def test_disabling_a_broken_plugin_skips_it(broken_plugin: Path, make_config: MakeConfig) -> None:
    runtime = Runtime(make_config('[runtime]\nstrict_plugins = true\ndisable_plugins = ["broken"]\n'))
    assert runtime.plugins.failures == []


@pytest.mark.parametrize(
    ("target", "source", "expected"),
    [
        ("fake_missing_mod", None, "ModuleNotFoundError"),
        ("fake_crash_mod", "raise RuntimeError('boom at import')\n", "RuntimeError: boom at import"),
        ("fake_attr_mod:hooks", "x = 1\n", "AttributeError"),
    ],
)
def test_other_import_failures_are_reported(
    fake_distribution: FakeDist, monkeypatch: pytest.MonkeyPatch, target: str, source: str | None,
    expected: str,
) -> None:
    module = target.split(":")[0]
    site = fake_distribution("fake_other", {"other": target}, {module: source} if source else {})
    monkeypatch.syspath_prepend(str(site))
    host = PluginHost()
    host.load_entry_points()
    [failure] = host.failures
    assert failure.name == "other"
    assert expected in failure.error
    assert "analytics" in host.plugins


def test_invalid_hook_signature_is_a_failure() -> None:
    class Bad:
        @hookimpl
        def register_routes(self, no_such_argument: Any) -> list[Any]:
            return []

    host = PluginHost()
    host.register("bad", Bad())
    [failure] = host.failures
    assert failure.name == "bad"
    assert "invalid plugin" in failure.error
    assert "no_such_argument" in failure.error
    assert "bad" not in host.plugins


# -- per-plugin configuration --------------------------------------------------------------
def test_analytics_table_is_decoded_with_its_schema(make_config: MakeConfig) -> None:
    runtime = Runtime(make_config('[plugins.analytics]\ngroup = "analytics-eu"\ncall_ttl_s = 60\n'))
    settings = runtime.plugin_configs["analytics"]
    assert settings.group == "analytics-eu"
    assert settings.call_ttl_s == 60
    assert [s.group for s in runtime.consumers.subscriptions] == ["history", "analytics-eu"]


@pytest.mark.parametrize(
    ("table", "path"),
    [
        ("nonsense = 1", "plugins.analytics.nonsense"),
        ('call_ttl_s = "a week"', "plugins.analytics.call_ttl_s"),
        ("latency_window = 0", "plugins.analytics.latency_window"),
    ],
)
def test_bad_analytics_key_names_its_path(make_config: MakeConfig, table: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        Runtime(make_config(f"[plugins.analytics]\n{table}\n"))
    assert [issue.path for issue in info.value.issues] == [path]


def test_table_for_a_plugin_not_installed_is_an_error(make_config: MakeConfig) -> None:
    with pytest.raises(ConfigError) as info:
        Runtime(make_config("[plugins.no_such_plugin]\nx = 1\n[plugins.analytics]\nnonsense = 2\n"))
    found = {issue.path: issue.message for issue in info.value.issues}
    message = found["plugins.no_such_plugin"]
    assert message.startswith("no plugin of this name is installed (installed: ")
    assert "analytics" in message
    assert "install its distribution (artagent-no-such-plugin by convention)" in message
    assert found["plugins.analytics.nonsense"] == "unknown key"


def test_table_for_a_disabled_plugin_is_ignored(make_config: MakeConfig) -> None:
    runtime = Runtime(make_config(
        '[runtime]\ndisable_plugins = ["analytics"]\n[plugins.analytics]\nnonsense = 1\n'
    ))
    assert "analytics" not in runtime.plugin_configs


def test_table_for_a_plugin_without_settings_is_an_error(make_config: MakeConfig) -> None:
    with pytest.raises(ConfigError) as info:
        runtime_with(make_config, "[plugins.plain]\nx = 1\n", plain=NoSettingsPlugin())
    assert [issue.path for issue in info.value.issues] == ["plugins.plain"]
    assert runtime_with(make_config, plain=NoSettingsPlugin()).plugin_configs["plain"] is None


def test_each_plugin_receives_its_own_decoded_config(make_config: MakeConfig) -> None:
    fraud = FraudPlugin()
    runtime_with(make_config, "[plugins.fraud]\nthreshold = 0.9\n", fraud=fraud)
    assert fraud.seen_config == [Settings(threshold=0.9)]
    with pytest.raises(ConfigError) as info:
        runtime_with(make_config, '[plugins.fraud]\nthreshold = "high"\n', fraud=FraudPlugin())
    assert [issue.path for issue in info.value.issues] == ["plugins.fraud.threshold"]


# -- event types from plugins --------------------------------------------------------------
def test_plugin_event_type_joins_the_runtime_catalogue(make_config: MakeConfig) -> None:
    runtime = runtime_with(make_config, fraud=FraudPlugin())
    assert "fraud_scored" in runtime.catalogue
    assert runtime.catalogue.owner("fraud_scored") == "fraud"
    assert len(runtime.catalogue) == len(CORE_EVENT_TYPES) + 1
    event = runtime.catalogue.decode(b'{"type":"fraud_scored","call_id":"c","score":0.75}')
    assert isinstance(event, FraudScored)
    assert (event.call_id, event.score) == ("c", 0.75)
    assert "FraudScored" in runtime.catalogue.json_schema()["$defs"]


def test_duplicate_event_tag_from_a_plugin_fails_start_up(make_config: MakeConfig) -> None:
    class Shadow(Event, frozen=True, kw_only=True, tag="call_ended"):
        pass

    class ShadowPlugin:
        @hookimpl
        def register_event_types(self, catalogue: EventCatalogue) -> list[type[Event]]:
            assert "call_ended" in catalogue  # the hook sees what is registered so far
            return [Shadow]

    with pytest.raises(DuplicateEventTypeError) as info:
        runtime_with(make_config, shadow=ShadowPlugin())
    assert str(info.value) == "event type 'call_ended' from shadow is already registered by artagent"


def test_two_plugins_with_the_same_event_tag_fail_naming_both(make_config: MakeConfig) -> None:
    class Copy(Event, frozen=True, kw_only=True, tag="fraud_scored"):
        pass

    class CopyPlugin:
        @hookimpl
        def register_event_types(self) -> list[type[Event]]:
            return [Copy]

    with pytest.raises(DuplicateEventTypeError) as info:
        runtime_with(make_config, fraud=FraudPlugin(), copycat=CopyPlugin())
    assert "fraud_scored" in str(info.value)
    assert {"fraud", "copycat"} <= set(str(info.value).replace(",", " ").split())


def test_failing_hook_stops_start_up_naming_plugin_and_hook(make_config: MakeConfig) -> None:
    class Exploding:
        @hookimpl
        def register_routes(self) -> list[Any]:
            raise ValueError("route table corrupt")

    with pytest.raises(PluginLoadError, match="plugin exploding: hook register_routes failed") as info:
        runtime_with(make_config, exploding=Exploding())
    assert "route table corrupt" in str(info.value)


# -- the hook surface ----------------------------------------------------------------------
def test_every_hook_is_called_at_start_up(make_config: MakeConfig) -> None:
    """Adding a hook means adding it here, so every hook has a test that it runs."""
    calls: list[str] = []

    class Recorder:
        @hookimpl
        def plugin_config_schema(self) -> None:
            calls.append("plugin_config_schema")

        @hookimpl
        def register_event_types(self) -> list[type[Event]]:
            calls.append("register_event_types")
            return []

        @hookimpl
        def register_subscribers(self, config: Any, redis: Any, metrics: Any, catalogue: Any) -> list[Any]:
            calls.append("register_subscribers")
            assert catalogue is not None and redis is not None and metrics is not None
            return []

        @hookimpl
        def register_routes(self, config: Any, redis: Any, catalogue: Any) -> list[Any]:
            calls.append("register_routes")
            return []

        @hookimpl
        def register_providers(self, config: Any, secrets: Any, metrics: Any) -> list[Any]:
            calls.append("register_providers")
            assert secrets == {} and isinstance(metrics, CollectorRegistry)
            return []

        @hookimpl
        def register_tools(self, config: Any, secrets: Any) -> list[Any]:
            calls.append("register_tools")
            return []

        @hookimpl
        def register_agents(self, config: Any) -> list[Any]:
            calls.append("register_agents")
            return []

        @hookimpl
        def register_stores(self, config: Any, secrets: Any) -> list[Any]:
            calls.append("register_stores")
            return []

    runtime_with(make_config, recorder=Recorder())
    at_start_up = [name for name in hookspecs.hook_names() if name != "register_commands"]  # the CLI's
    assert sorted(calls) == sorted(at_start_up)


def test_hook_names_lists_every_hookspec() -> None:
    host = PluginHost()
    specs = {name for name in vars(host.pm.hook) if not name.startswith("_")}
    assert set(hookspecs.hook_names()) == specs
    assert len(specs) >= 4


@pytest.mark.parametrize("hook", hookspecs.hook_names())
def test_hook_has_a_docstring(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook))
    assert doc and len(doc.split()) >= 8, f"hookspec {hook} needs a docstring saying when it runs"


@pytest.mark.parametrize("hook", hookspecs.hook_names())
def test_hook_is_documented_in_docs_plugins_md(hook: str) -> None:
    doc = REPO_ROOT / "docs" / "plugins.md"
    assert doc.exists(), "docs/plugins.md is missing"
    assert hook in doc.read_text(encoding="utf-8"), f"docs/plugins.md does not mention the hook {hook}"
