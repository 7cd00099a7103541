"""Loading plugins from entry points and calling their hooks with typed results.

One :class:`PluginHost` is built per runtime (never a module global). It wraps pluggy's
PluginManager so that call sites get typed lists back, each item attributed to the plugin that
registered it, and so that each plugin receives its own configuration.
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import types
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import pluggy

from artagent import hookspecs
from artagent.config import ConfigError, ConfigIssue, decode_section

__all__ = ["ENTRY_POINT_GROUP", "PluginFailure", "PluginHost", "PluginInfo", "PluginLoadError"]

ENTRY_POINT_GROUP = "artagent"
log = logging.getLogger(__name__)


class PluginInfo(msgspec.Struct, kw_only=True):
    """What is known about one loaded plugin; ``registered`` fills in as hooks run."""

    name: str
    distribution: str | None = None
    version: str | None = None
    module: str = ""
    registered: dict[str, list[str]] = msgspec.field(default_factory=dict)


class PluginFailure(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    distribution: str | None
    error: str


class PluginLoadError(RuntimeError):
    """A plugin failed and ``[runtime] strict_plugins`` is on."""


def _describe(obj: Any) -> str:
    describe = getattr(obj, "describe", None)
    if callable(describe):
        return str(describe())
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    name = getattr(obj, "__qualname__", None) or getattr(obj, "path", None)
    return str(name if name is not None else type(obj).__name__)


class PluginHost:
    """The plugin manager of one runtime."""

    def __init__(self, *, disabled: Iterable[str] = (), strict: bool = False) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.disabled = frozenset(disabled)
        self.strict = strict
        self.plugins: dict[str, PluginInfo] = {}
        self.failures: list[PluginFailure] = []
        self._secrets: dict[str, dict[str, str]] = {}

    # -- loading -------------------------------------------------------------------------
    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Import every installed plugin not disabled; failures are recorded (or raised)."""
        for ep in sorted(md.entry_points(group=group), key=lambda e: e.name):
            if ep.name in self.disabled or ep.name in self.plugins:
                continue
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            try:
                obj = ep.load()
            except Exception as exc:
                self._fail(ep.name, dist, f"import failed: {type(exc).__name__}: {exc}")
                continue
            self.register(ep.name, obj, distribution=dist, version=version)

    def register(
        self, name: str, obj: Any, *, distribution: str | None = None, version: str | None = None
    ) -> None:
        """Register a plugin object under ``name`` (entry points, built-ins and tests)."""
        if name in self.disabled:
            return
        try:
            self.pm.register(obj, name=name)
        except Exception as exc:
            self._fail(name, distribution, f"invalid plugin: {exc}")
            return
        unknown = sorted(c.name for c in self.pm.get_hookcallers(obj) or () if not c.has_spec())
        if unknown:
            self.pm.unregister(obj)
            known = ", ".join(hookspecs.hook_names())
            self._fail(name, distribution, f"unknown hook(s) {', '.join(unknown)} (known: {known})")
            return
        self.plugins[name] = PluginInfo(
            name=name, distribution=distribution, version=version, module=_describe(obj)
        )

    def _fail(self, name: str, distribution: str | None, error: str) -> None:
        failure = PluginFailure(name=name, distribution=distribution, error=error)
        self.failures.append(failure)
        log.error("plugin %s (%s) not loaded: %s", name, distribution or "?", error)
        if self.strict:
            raise PluginLoadError(f"plugin {name}: {error}")

    # -- configuration -------------------------------------------------------------------
    def decode_configs(
        self, tables: Mapping[str, Mapping[str, Any]], secrets: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Decode each ``[plugins.<name>]`` table with its plugin's schema.

        Raises :class:`ConfigError` naming every bad key, a table for a plugin that takes no
        settings, and a table for a plugin that is not installed (disabled ones are ignored).
        """
        schemas = self._call_each("plugin_config_schema", {})
        issues: list[ConfigIssue] = []
        configs: dict[str, Any] = {}
        for name in self.plugins:
            schema = schemas.get(name)
            raw = tables.get(name)
            if schema is None:
                if raw:
                    issues.append(ConfigIssue(f"plugins.{name}", "this plugin takes no settings"))
                configs[name] = None
                continue
            try:
                configs[name] = decode_section(raw or {}, schema, f"plugins.{name}")
            except ConfigError as exc:
                issues.extend(exc.issues)
        failed = {f.name for f in self.failures}
        installed = ", ".join(self.plugins) or "none"
        for name in tables:
            if name not in self.plugins and name not in self.disabled and name not in failed:
                message = (
                    f"no plugin of this name is installed (installed: {installed}); install "
                    f"its distribution (artagent-{name.replace('_', '-')} by convention) or remove the table"
                )
                issues.append(ConfigIssue(f"plugins.{name}", message))
        if issues:
            raise ConfigError(issues)
        for path, value in (secrets or {}).items():
            _, name, key = path.split(".", 2) if path.startswith("plugins.") else ("", "", path)
            if name:
                self._secrets.setdefault(name, {})[key] = value
        return configs

    # -- typed hook calls ----------------------------------------------------------------
    def event_types(self, catalogue: Any) -> list[tuple[str, type[Any]]]:
        return self._collect("register_event_types", {"catalogue": catalogue}, {})

    def subscribers(self, configs: Mapping[str, Any], **services: Any) -> list[tuple[str, Any]]:
        return self._collect("register_subscribers", services, configs)

    def providers(self, configs: Mapping[str, Any], **services: Any) -> list[tuple[str, Any]]:
        return self._collect("register_providers", services, configs)

    def stores(self, configs: Mapping[str, Any]) -> list[tuple[str, Any]]:
        return self._collect("register_stores", {}, configs)

    def routes(self, configs: Mapping[str, Any], **services: Any) -> list[tuple[str, Any]]:
        return self._collect("register_routes", services, configs)

    def tools(self, configs: Mapping[str, Any]) -> list[tuple[str, Any]]:
        return self._collect("register_tools", {}, configs)

    def agent_folders(self, configs: Mapping[str, Any]) -> list[tuple[str, Any]]:
        return self._collect("register_agents", {}, configs)

    def commands(self) -> list[tuple[str, Any]]:
        return self._collect("register_commands", {}, {})

    def _collect(
        self, hook: str, services: Mapping[str, Any], configs: Mapping[str, Any]
    ) -> list[tuple[str, Any]]:
        """(plugin name, item) for every item every plugin returned, in plugin order."""
        items: list[tuple[str, Any]] = []
        for name, result in self._call_each(hook, services, configs).items():
            registered = list(result or ())
            items.extend((name, item) for item in registered)
            if registered:
                self.plugins[name].registered[hook] = [_describe(i) for i in registered]
        return items

    def _call_each(
        self, hook: str, services: Mapping[str, Any], configs: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Call ``hook`` on each plugin separately, passing only the arguments it declares."""
        results: dict[str, Any] = {}
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
            name = impl.plugin_name
            kwargs = {a: services[a] for a in impl.argnames if a not in ("config", "secrets")}
            if "config" in impl.argnames:
                kwargs["config"] = (configs or {}).get(name)
            if "secrets" in impl.argnames:
                kwargs["secrets"] = dict(self._secrets.get(name, {}))
            try:
                results[name] = impl.function(**kwargs)
            except Exception as exc:
                raise PluginLoadError(f"plugin {name}: hook {hook} failed: {exc!r}") from exc
        return results
