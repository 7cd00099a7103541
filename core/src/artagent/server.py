"""Running the app under uvicorn, and saying where it listens."""

from __future__ import annotations

import asyncio
import gc
from types import FrameType

import uvicorn

from artagent.app import create_app
from artagent.config import LoadedConfig
from artagent.runtime import Runtime

__all__ = ["serve"]


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after a graceful shutdown, so the process would die
    "by signal". A drained shutdown is a clean exit for a worker: status 0."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


async def _announce(server: uvicorn.Server) -> None:
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.05)
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


def serve(loaded: LoadedConfig, host: str | None = None, port: int | None = None) -> int:
    """Build the runtime and app, and serve until SIGINT/SIGTERM; returns the exit status."""
    cfg = loaded.config
    runtime = Runtime(loaded)
    app = create_app(runtime)
    # Everything imported and built so far lives as long as the process: move it out of the
    # collector's reach so full collections stay short (they pause the event loop).
    gc.freeze()
    config = uvicorn.Config(
        app,
        host=host or cfg.server.host,
        port=cfg.server.port if port is None else port,
        log_level=cfg.logging.level.lower(),
        lifespan="on",
    )
    server = _Server(config)
    asyncio.run(_serve(server))
    return 0 if server.started else 1
