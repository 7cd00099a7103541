"""The hooks a plugin may implement: the whole extension surface of ARTAgent.

A plugin is a module (or object) exposed in the ``artagent`` entry-point group; its functions are
marked with :data:`hookimpl`. Every hook runs once, at start-up, to register things. Per-call
work never goes through the plugin manager.

A hook implementation may accept any subset of the arguments its spec lists. ``config`` is always
that plugin's own decoded ``[plugins.<name>]`` table (the Struct its
:func:`plugin_config_schema` returned), or ``None`` when it declared no schema. ``secrets``
maps each ``*_env`` key of that table (its path inside the table, such as ``api_key_env``) to
the value of the environment variable it names; secrets never come from the file itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    import msgspec
    from prometheus_client import CollectorRegistry
    from redis.asyncio import Redis

    from artagent.agents.tools import Tool
    from artagent.bus.subscribers import Subscription
    from artagent.commands import Command
    from artagent.events import Event, EventCatalogue
    from artagent.history.store import StoreSpec
    from artagent.providers import ProviderSpec
    from artagent.workers import LiveWorkers

PROJECT = "artagent"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def plugin_config_schema() -> type[msgspec.Struct] | None:
    """Return the Struct that decodes this plugin's ``[plugins.<name>]`` table.

    Called first, before any other hook, so the table can be validated (errors name the dotted
    key, such as ``plugins.analytics.key_prefix``). Return ``None`` when the plugin has no
    settings; a table written for it is then an error.
    """


@hookspec
def register_event_types(catalogue: EventCatalogue) -> Iterable[type[Event]]:  # type: ignore[empty-body]
    """Return the plugin's own event types, added to the catalogue at start-up.

    Each must subclass :class:`artagent.events.Event` with a ``tag`` no other plugin uses; a
    duplicate tag stops the start-up with an error naming both owners. ``catalogue`` holds what
    is registered so far, for plugins that want to check.
    """


@hookspec
def register_subscribers(  # type: ignore[empty-body]
    config: Any,
    secrets: Mapping[str, str],
    redis: Redis,
    metrics: CollectorRegistry,
    catalogue: EventCatalogue,
) -> Iterable[Subscription]:
    """Return bus subscriptions: each gets its own consumer group and is run by the runtime.

    Called once while the runtime is built, before Redis is connected (also by ``artagent
    plugins`` and ``config check``): build objects here, do no I/O. The runtime starts the
    subscriptions once the bus is up. ``redis`` is the runtime's shared async client (for the
    subscriber's own state); ``metrics`` is the runtime's Prometheus registry, exported at
    ``/metrics``.
    """


@hookspec
def register_routes(  # type: ignore[empty-body]
    config: Any, secrets: Mapping[str, str], redis: Redis, catalogue: EventCatalogue, workers: LiveWorkers
) -> Iterable[Any]:
    """Return Litestar route handlers, controllers or routers to mount on the app.

    Paths are the plugin's to choose; by convention ``/api/v1/<plugin>/...``. Called once while
    the runtime is built, before Redis is connected: handlers use ``redis`` only when requests
    arrive. ``workers`` reads the deployment's live workers and the calls they carry
    (:class:`artagent.workers.LiveWorkers`). Routes that show call data put
    :func:`artagent.access.operator_guard` on themselves, so ``[server] api_token_env``
    protects them like core's.
    """


@hookspec
def register_providers(  # type: ignore[empty-body]
    config: Any, secrets: Mapping[str, str], metrics: CollectorRegistry
) -> Iterable[ProviderSpec]:
    """Return the speech, model and turn-taking providers this plugin offers, by kind and name.

    Called once while the runtime is built. Each :class:`artagent.providers.ProviderSpec` names
    its kind (``vad``, ``stt``, ``tts``, ``turn_detector``, ``model``, or ``realtime``: a
    speech-to-speech session mode, :class:`artagent.session.modes.RealtimeMode`), a name unique within
    that kind (runtime.toml chooses providers by these names) and a factory that builds the
    provider from its settings table. Two plugins offering the same kind and name stop the
    start-up with an error naming both. ``metrics`` is the runtime's Prometheus registry, for
    the providers' own metrics (inference queues, say). Factories must be cheap (``artagent
    plugins`` and ``config check`` build the selected providers too): load models in the
    provider's optional ``async warm_up()``, which the runtime awaits at start-up.
    """


@hookspec
def register_tools(config: Any, secrets: Mapping[str, str]) -> Iterable[Tool]:  # type: ignore[empty-body]
    """Return the tools this plugin offers agents: :class:`artagent.agents.tools.Tool` objects,
    made with the ``@tool`` decorator from async functions taking a msgspec Struct.

    Called once while the runtime is built, before the agents load (an agent naming a tool no
    plugin registered stops the start-up). Tool names are global: two plugins registering the
    same name stop the start-up with an error naming both.
    """


@hookspec
def register_agents(config: Any) -> Iterable[Path]:  # type: ignore[empty-body]
    """Return folders of agent and scenario definitions shipped with the plugin.

    Each folder may hold ``agents/*.yaml``, ``scenarios/*.yaml`` and the prompt files the agents
    name (see docs/agents.md). Called once while the runtime is built; every definition is
    checked then, so a malformed file or a handoff to an unknown agent stops the start-up with
    the file and key named, never mid-call.
    """


@hookspec
def register_commands() -> Iterable[Command]:  # type: ignore[empty-body]
    """Return ``artagent`` sub-commands of this plugin (``artagent insurance claims``).

    Called when the command line is parsed, before any configuration is read: no arguments,
    no I/O. Each :class:`artagent.commands.Command` adds its arguments to its own parser and
    runs with the loaded configuration; its name must not be one of core's commands.
    """


@hookspec
def register_stores(config: Any, secrets: Mapping[str, str]) -> Iterable[StoreSpec]:  # type: ignore[empty-body]
    """Return the call history stores this plugin offers, by name.

    Called once while the runtime is built, before Redis is connected: return
    :class:`artagent.history.store.StoreSpec` objects and do no I/O. ``[history] store`` chooses
    one by name; its factory is then called with the runtime's
    :class:`~artagent.history.store.StoreContext` (data directory, retention) and must return a
    :class:`~artagent.history.store.CallHistoryStore`, which connects in its ``start()``. Two
    plugins offering the same name stop the start-up with an error naming both.
    """


def hook_names() -> list[str]:
    """Every hook defined here, for documentation and the hook-coverage test."""
    return [name for name, value in globals().items() if hasattr(value, f"{PROJECT}_spec")]
