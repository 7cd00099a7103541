"""Running the app under uvicorn, and saying where it listens."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any

import uvicorn

from artagent.app import create_app
from artagent.config import ConfigError, ConfigIssue, LoadedConfig
from artagent.gc_policy import settle_after_startup, use_worker_thresholds
from artagent.runtime import Runtime

__all__ = ["serve"]

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn, with a drain before it stops.

    The first SIGTERM/SIGINT drains: the server keeps answering (``/readiness`` says 503, new
    calls are refused) while active calls finish, up to the configured deadline; then uvicorn
    shuts down as usual. A second signal stops at once. uvicorn re-raises the signal after a
    graceful shutdown, so the process would die "by signal"; a drained exit is status 0.
    """

    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime
        self._drain: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain is None and self._loop is not None and self.started:
            self._loop.call_soon_threadsafe(self._start_drain)
            return
        super().handle_exit(sig, frame)
        self._captured_signals.clear()

    def _start_drain(self) -> None:
        if self._drain is None:
            self._drain = asyncio.create_task(self._drain_then_exit(), name="drain")

    async def _drain_then_exit(self) -> None:
        deadline = self.runtime.config.server.drain_timeout_s
        log.info("draining: %d active call(s), deadline %.0f s", len(self.runtime.calls), deadline)
        try:
            await self.runtime.calls.drain(deadline)
        finally:
            self.should_exit = True


async def _announce(server: uvicorn.Server) -> None:
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.05)
    # Start-up is over (the runtime, its plugins and connections are built): what exists now
    # lives as long as the process, so the collector never needs to walk it again.
    frozen = settle_after_startup()
    log.debug("garbage collector: %d start-up objects frozen", frozen)
    for srv in server.servers:
        for sock in srv.sockets:
            host, port = sock.getsockname()[:2]
            print(
                f"ARTAgent is ready: http://{host}:{port}/  (readiness: http://{host}:{port}/readiness)",
                flush=True,
            )
            return


async def _serve(server: uvicorn.Server) -> None:
    announcer = asyncio.create_task(_announce(server))
    try:
        await server.serve()
    finally:
        announcer.cancel()


WS_MAX_BYTES = 1 << 20
"""The largest WebSocket message the server accepts (before any channel reads it)."""


def serve(loaded: LoadedConfig, host: str | None = None, port: int | None = None) -> int:
    """Build the runtime and app, and serve until SIGINT/SIGTERM; returns the exit status."""
    cfg = loaded.config
    run = _runner(cfg.server.loop, loaded.source)
    runtime = Runtime(loaded)
    app = create_app(runtime)
    use_worker_thresholds()  # short collector pauses: every call shares the event loop
    config = uvicorn.Config(
        app,
        host=host or cfg.server.host,
        port=cfg.server.port if port is None else port,
        # uvicorn's loggers get no handler and no level of their own: their records go through the
        # runtime's handler ([observability] format and per-logger levels, query strings masked).
        log_config=None,
        log_level=None,
        lifespan="on",
        # No channel's message comes near this (an ACS frame is about 1 KiB, a browser frame
        # 640 bytes); uvicorn's 16 MiB default would let a bad client make us buffer that much.
        ws_max_size=WS_MAX_BYTES,
    )
    server = _Server(config, runtime)
    run(_serve(server))
    return 0 if server.started else 1


def _runner(loop: str, source: str = "") -> Callable[[Coroutine[Any, Any, None]], None]:
    """What runs the server's coroutine on the configured event loop (``[server] loop``)."""
    if loop == "asyncio":
        return asyncio.run
    try:
        import uvloop
    except ImportError:
        if loop == "auto":
            return asyncio.run
        issue = ConfigIssue("server.loop", "'uvloop' is not installed (pip install uvloop; not on Windows)")
        raise ConfigError([issue], source) from None
    return uvloop.run
