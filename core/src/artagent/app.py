"""The Litestar application: health, readiness, metrics, plugin listing, bus docs, plugin routes.

Everything but ``/health``, ``/readiness`` and the OpenAPI document is behind the operator
guards of :mod:`artagent.access` (open until ``[server] api_token_env`` is set).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get
from litestar.logging.config import LoggingConfig
from litestar.openapi import OpenAPIConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from artagent import __version__
from artagent.access import metrics_guard, operator_guard
from artagent.agents.api import agent_routes
from artagent.history.routes import history_router
from artagent.runtime import Runtime

__all__ = ["create_app"]


def _runtime(request: Request[Any, Any, Any]) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@get("/health", sync_to_thread=False, tags=["operations"])
def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@get("/readiness", sync_to_thread=False, tags=["operations"])
def readiness(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """200 once the bus is connected and plugins are loaded; 503 naming what is not ready."""
    runtime = _runtime(request)
    checks = dict(runtime.checks)
    if runtime.draining:
        checks["draining"] = "shutting down: no new calls"
    waiting = [name for name, state in checks.items() if state != "ok"]
    body = {"ready": not waiting, "checks": checks, "not_ready": waiting, "worker": runtime.worker,
            "loop": _loop_name()}  # fmt: skip
    return Response(body, status_code=200 if not waiting else 503)


def _loop_name() -> str:
    """``uvloop`` or ``asyncio``: the event loop the worker runs on (``[server] loop``)."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"


@get("/api/v1/plugins", sync_to_thread=False, tags=["plugins"], guards=[operator_guard])
def list_plugins(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Loaded plugins with what each registered, and plugins that failed to load."""
    host = _runtime(request).plugins
    return {"plugins": list(host.plugins.values()), "failed": host.failures}


@get("/metrics", sync_to_thread=False, media_type=MediaType.TEXT, include_in_schema=False,
     guards=[metrics_guard])  # fmt: skip
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus exposition of this worker's metrics."""
    body = generate_latest(_runtime(request).registry)
    # Set as a header: Litestar would append a second "; charset=utf-8" to a text/ media type,
    # and a Content-Type with a duplicate parameter fails to parse (Prometheus 3 rejects it).
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"content-type": CONTENT_TYPE_LATEST})


@get("/asyncapi", sync_to_thread=False, tags=["bus"], guards=[operator_guard])
def asyncapi(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the event bus (streams, consumer groups, event payloads)."""
    runtime = _runtime(request)
    return runtime.consumers.asyncapi(runtime.catalogue.json_schema())


def create_app(runtime: Runtime) -> Litestar:
    """Build the app around a runtime; the runtime starts and stops with the app."""

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with runtime.running():
            yield

    core: list[Any] = [health, readiness, list_plugins, metrics, asyncapi, history_router()]
    app = Litestar(
        route_handlers=[*core, *agent_routes(), *runtime.routes],
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(title="ARTAgent", version=__version__, path="/schema"),
        # Litestar's own records go up to the root logger, whose handler `artagent serve` sets up
        # from [observability]; by default Litestar would replace that handler with its own.
        logging_config=LoggingConfig(
            configure_root_logger=False, loggers={"litestar": {"handlers": [], "propagate": True}}
        ),
    )
    app.state.runtime = runtime
    return app
