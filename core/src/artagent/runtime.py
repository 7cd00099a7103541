"""The Runtime: everything one worker process is made of, built from its configuration.

Nothing here is a module global: a test builds its own Runtime from its own configuration, and
the app, the CLI and the bus receive the pieces they need from it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.metadata
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from redis.exceptions import RedisError

from artagent.access import ApiAccess
from artagent.agents.builtin import BUILTIN_TOOLS
from artagent.agents.catalog import AgentCatalog
from artagent.agents.layer import AgentsLayer, wall_clock_zone
from artagent.agents.records import RedisRecordStore
from artagent.agents.routing import ModelRouting
from artagent.agents.selection import ScenarioSelector
from artagent.agents.tools import ToolRegistry
from artagent.bus.outbox import Outbox
from artagent.bus.redis import EmbeddedRedis, async_client, redis_credentials, redis_url
from artagent.bus.subscribers import BusConsumers, Subscription
from artagent.calls import ActiveCalls
from artagent.config import ConfigError, ConfigIssue, LoadedConfig
from artagent.events import EventCatalogue
from artagent.history.service import CallHistory, builtin_stores
from artagent.history.store import StoreRegistry
from artagent.loop_lag import LoopLagMonitor
from artagent.observability.export import tracing_from_config
from artagent.observability.metrics import CallMetrics
from artagent.observability.tracing import Tracing
from artagent.plugins import PluginHost, PluginLoadError
from artagent.providers import ProviderRegistry, ProviderSpec
from artagent.session.latency import SessionMetrics
from artagent.session.launcher import SessionLauncher, WarmUpError
from artagent.session.turns import EndpointingTurnDetector
from artagent.workers import LiveWorkers, WorkerBeacon

__all__ = ["Runtime"]

log = logging.getLogger(__name__)


class BusUnavailableError(RuntimeError):
    """Redis could not be reached at start-up."""


def _version() -> str:
    try:
        return importlib.metadata.version("artagent")
    except importlib.metadata.PackageNotFoundError:
        return ""


def default_worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Runtime:
    """One worker: plugins, event catalogue, bus connection, outbox and subscribers.

    Construction loads plugins and decodes their configuration (so errors surface before any
    server starts); :meth:`start` connects to Redis and starts publishing and consuming.
    """

    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        host: PluginHost | None = None,
        load_entry_points: bool = True,
        tracing: Tracing | None = None,
    ) -> None:
        """``tracing``: instead of the one ``[observability]`` gives (a test's in-memory exporter)."""
        cfg = loaded.config
        self.loaded = loaded
        self.config = cfg
        self.worker = cfg.runtime.worker_name or default_worker_name()
        self.access = ApiAccess.from_config(loaded)
        self.registry = CollectorRegistry()
        self.tracing = tracing or tracing_from_config(loaded, worker=self.worker, version=_version())
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.catalogue = EventCatalogue()
        self.plugins = host or PluginHost(
            disabled=cfg.runtime.disable_plugins, strict=cfg.runtime.strict_plugins
        )
        if load_entry_points:
            self.plugins.load_entry_points()
        try:
            self.plugin_configs = self.plugins.decode_configs(cfg.plugins, loaded.secrets)
        except ConfigError as exc:
            raise ConfigError(exc.issues, loaded.source) from None
        for owner, event_type in self.plugins.event_types(self.catalogue):
            try:
                self.catalogue.register(event_type, owner=owner)
            except TypeError as exc:  # a duplicate tag raises DuplicateEventTypeError, naming both owners
                raise PluginLoadError(f"plugin {owner}: {exc}") from None

        self.providers = ProviderRegistry()
        builtin = ProviderSpec("turn_detector", "endpointing", EndpointingTurnDetector.from_settings)
        self.providers.add(builtin, owner="artagent")
        try:
            self.providers.extend(self.plugins.providers(self.plugin_configs, metrics=self.registry))
        except ValueError as exc:
            raise PluginLoadError(str(exc)) from None
        self.history = self._build_history(loaded)

        self.embedded = EmbeddedRedis(loaded.data_dir) if cfg.bus.redis_url == "embedded" else None
        self.redis_url = redis_url(loaded)
        password = loaded.secret("bus.redis_password_env")
        self.redis_credentials = redis_credentials(loaded)
        self.redis = async_client(self.redis_url, password, self.redis_credentials)
        self.outbox = Outbox(
            self.redis,
            self.catalogue,
            stream=cfg.bus.stream,
            spill_path=loaded.data_dir / cfg.bus.outbox.spill_file,
            maxlen=cfg.bus.stream_maxlen,
            max_queue=cfg.bus.outbox.max_queue,
            batch_size=cfg.bus.outbox.batch_size,
            retry_max_s=cfg.bus.outbox.retry_max_s,
            registry=self.registry,
        )
        self.consumers = BusConsumers(
            url=self.redis_url,
            password=password,
            credentials=self.redis_credentials,
            stream=cfg.bus.stream,
            consumer=self.worker,
            catalogue=self.catalogue,
            redis=self.redis,
            batch=cfg.bus.consume_batch,
            claim_idle_ms=cfg.bus.claim_idle_ms,
            dedup_window_s=cfg.bus.dedup_window_s,
            linger_ms=cfg.bus.consume_linger_ms,
            registry=self.registry,
            tracing=self.tracing,
        )
        self.workers = LiveWorkers(self.redis, stream=cfg.bus.stream)
        services: dict[str, Any] = {
            "redis": self.redis,
            "metrics": self.registry,
            "catalogue": self.catalogue,
            "workers": self.workers,
        }
        if self.history.enabled:
            self.consumers.add(self.history.subscription())
        for owner, sub in self.plugins.subscribers(self.plugin_configs, **services):
            if not isinstance(sub, Subscription):
                raise PluginLoadError(
                    f"plugin {owner}: register_subscribers returned {sub!r}, not a Subscription"
                )
            try:
                self.consumers.add(sub)
            except ValueError as exc:
                raise PluginLoadError(f"plugin {owner}: {exc}") from None
        self.routes = [item for _, item in self.plugins.routes(self.plugin_configs, **services)]
        self.agents = self._agents_layer(loaded)
        self.checks: dict[str, str] = {"plugins": "ok", "bus": "not connected yet"}
        self.calls = ActiveCalls(self.registry)
        self.beacon = WorkerBeacon(
            self.redis, self.calls, stream=cfg.bus.stream, worker=self.worker,
            ttl_s=cfg.runtime.heartbeat_ttl_s,
        )  # fmt: skip
        self.loop_lag = LoopLagMonitor(registry=self.registry)
        try:
            self.sessions = SessionLauncher(
                cfg.session,
                self.providers,
                publisher=self.outbox,
                redis=self.redis,
                calls=self.calls,
                worker=self.worker,
                metrics=SessionMetrics(self.registry),
                agents=self.agents,
                tracing=self.tracing,
                call_metrics=CallMetrics(self.registry),
            )
        except ConfigError as exc:
            raise ConfigError(exc.issues, loaded.source) from None
        if self.sessions.missing:
            log.warning("calls cannot start on this worker yet: %s", self.sessions.status)
        self._warm_up: asyncio.Task[None] | None = None
        session_warming = self.sessions.warming_up()
        agents = [agent.definition for agent in self.agents.catalog.agents.values()]
        # The agents' routers are instances of their own (the session's model may be another).
        self._routers_to_warm = self.agents.routing.warming_up(agents)
        routers = [f"model:{name}" for name in self._routers_to_warm]
        self._warming = [*session_warming, *(name for name in routers if name not in session_warming)]
        if self._warming:
            self.checks["providers"] = "not warmed up yet"
        self._stopping = False

    def _agents_layer(self, loaded: LoadedConfig) -> AgentsLayer:
        """Tools, then the agent and scenario definitions checked against them, then
        ``[agents]`` checked against the scenarios: any mistake stops the start-up here."""
        try:
            builtin = [("artagent", t) for t in BUILTIN_TOOLS]
            tools = ToolRegistry([*builtin, *self.plugins.tools(self.plugin_configs)])
        except (TypeError, ValueError) as exc:
            raise PluginLoadError(str(exc)) from None
        catalog = AgentCatalog.load(self.plugins.agent_folders(self.plugin_configs), tools)
        try:
            selector = ScenarioSelector(self.config.agents, catalog)
        except ConfigError as exc:
            raise ConfigError(exc.issues, loaded.source) from None
        routing = ModelRouting(self.providers, self.config.agents.routers, self.config.agents.routing)
        if issues := routing.check(catalog.agents.keys()):
            raise ConfigError(issues, loaded.source)
        try:
            zone = wall_clock_zone(self.config.agents.timezone)
        except ValueError as exc:
            raise ConfigError([ConfigIssue("agents.timezone", str(exc))], loaded.source) from None
        store = RedisRecordStore(self.redis)
        return AgentsLayer(catalog, tools, routing, selector, store, now=lambda: dt.datetime.now(zone))

    def _build_history(self, loaded: LoadedConfig) -> CallHistory:
        """The call history chosen by ``[history] store`` among core's and the plugins' stores."""
        self.stores = StoreRegistry()
        try:
            for spec in builtin_stores():
                self.stores.add(spec, owner="artagent")
            for owner, spec in self.plugins.stores(self.plugin_configs):
                self.stores.add(spec, owner=owner)
        except (TypeError, ValueError) as exc:
            raise PluginLoadError(str(exc)) from None
        try:
            return CallHistory(
                self.config.history, self.stores, data_dir=loaded.data_dir, metrics=self.registry
            )
        except ConfigError as exc:
            raise ConfigError(exc.issues, loaded.source) from None

    @property
    def draining(self) -> bool:
        """Shutting down: no new calls (readiness answers 503)."""
        return self._stopping or self.calls.draining

    @property
    def ready(self) -> bool:
        return not self.draining and all(v == "ok" for v in self.checks.values())

    async def start(self) -> None:
        """Connect to Redis (starting the embedded one if configured), then publish and consume.

        The selected providers' warm-up starts first and goes on in the background: until it
        is over, ``/readiness`` says 503 with the check ``providers``.
        """
        if "providers" in self.checks and self._warm_up is None:
            self._warm_up = asyncio.create_task(self._warm_up_providers(), name="warm-up")
        if self.embedded is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.embedded.start)
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            self.checks["bus"] = f"cannot reach Redis at {self.redis_url}: {exc}"
            raise BusUnavailableError(self.checks["bus"]) from exc
        self.loop_lag.start()
        await self.beacon.start()
        await self.outbox.start()
        await self.history.start()
        await self.consumers.start()
        self.checks["bus"] = "ok"
        log.info(
            "runtime %s ready: bus at %s, %d plugins", self.worker, self.redis_url, len(self.plugins.plugins)
        )

    async def _warm_up_providers(self) -> None:
        waiting = ", ".join(self._warming)
        self.checks["providers"] = f"warming up {waiting}"
        started = asyncio.get_running_loop().time()
        try:
            await self.sessions.warm_up()
            await self._warm_up_routers()
        except WarmUpError as exc:
            self.checks["providers"] = f"warm-up failed: {exc}"
            log.error("provider warm-up failed, this worker stays not ready: %s", exc)
            return
        self.checks["providers"] = "ok"
        log.info("providers warmed up in %.1f s: %s", asyncio.get_running_loop().time() - started, waiting)

    async def _warm_up_routers(self) -> None:
        """The model routers the agents will use, each instance warmed up once."""
        for name in self._routers_to_warm:
            try:
                await self.agents.routing.warm_up([name])
            except Exception as exc:
                raise WarmUpError(f"model:{name}: {type(exc).__name__}: {exc}") from exc

    async def warmed_up(self) -> bool:
        """Wait for the start-up warm-up (if any) to end; true unless it failed."""
        if self._warm_up is not None:
            await asyncio.shield(self._warm_up)
        return self.checks.get("providers", "ok") == "ok"

    async def stop(self) -> None:
        """Stop consuming, publish what is queued (or spill it), disconnect, stop embedded Redis."""
        self._stopping = True
        if self._warm_up is not None and not self._warm_up.done():
            self._warm_up.cancel()
            await asyncio.wait({self._warm_up})
        await self.consumers.stop()
        await self.beacon.stop()
        await self.history.stop()
        await self.outbox.close()
        await self.loop_lag.stop()
        await self.redis.aclose()
        await asyncio.get_running_loop().run_in_executor(None, self.tracing.shutdown)  # last spans out
        if self.redis_credentials is not None:
            await self.redis_credentials.close()
        if self.embedded is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.embedded.stop)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Runtime]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()
