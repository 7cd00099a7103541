"""Active calls come from live workers: a worker killed with SIGKILL mid-call (it never
publishes ``call_ended``) leaves the deployment's count within ``[runtime] heartbeat_ttl_s``,
where started-minus-ended would count its calls for ever."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from artagent.app import create_app
from artagent.config import LoadedConfig
from artagent.events import CallStarted
from artagent.plugins import PluginHost
from artagent.runtime import Runtime
from artagent.workers import LiveWorkers, WorkerBeacon
from test_app import other_plugins, serving

CHILD = Path(__file__).with_name("_worker_proc.py")
TTL_S = 2.0


async def summary(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/api/v1/analytics/summary")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def until(http: httpx.AsyncClient, check: Callable[[dict[str, Any]], bool], limit_s: float) -> float:
    """Seconds until the summary satisfies ``check`` (fails after ``limit_s``)."""
    started = time.monotonic()
    body: dict[str, Any] = {}
    while time.monotonic() - started < limit_s:
        body = await summary(http)
        if check(body):
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"summary never matched in {limit_s} s: {body}")


async def test_a_worker_killed_mid_call_leaves_the_active_count_within_the_ttl(
    make_config: Callable[..., LoadedConfig], data_dir: Path, tmp_path: Path
) -> None:
    loaded = make_config(f'[runtime]\nworker_name = "survivor"\nheartbeat_ttl_s = {TTL_S}\n')
    runtime = Runtime(loaded, host=PluginHost(disabled=other_plugins()))
    async with serving(create_app(runtime)) as http:

        async def end(reason: str) -> None:
            return None

        runtime.calls.admit("survivor-call", end)
        runtime.outbox.for_call("survivor-call").emit(CallStarted, channel="test")
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(CHILD), runtime.redis_url, str(tmp_path), "doomed", "3",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), 30)
            assert line.strip() == b"carrying 3"
            await until(http, lambda s: (s["active_calls"], s["workers"]) == (4, 2), limit_s=10)
            os.kill(child.pid, signal.SIGKILL)  # mid-call: no call_ended, no goodbye
            await asyncio.wait_for(child.wait(), 10)
            took = await until(http, lambda s: (s["active_calls"], s["workers"]) == (1, 1), limit_s=TTL_S + 5)
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
        assert took <= TTL_S + 1.0, f"the dead worker's calls counted for {took:.1f} s"
        body = await summary(http)
        assert body["calls_started"] - body["calls_ended"] == 4  # what the old count would say
        names = set(await runtime.redis.smembers(f"{runtime.config.bus.stream}:workers"))
        assert names == {b"survivor"}, "the dead worker's name was pruned from the registry"

        await runtime.calls.finished("survivor-call")
        await until(http, lambda s: s["active_calls"] == 0, limit_s=2)  # a change beats at once


async def test_a_worker_that_stops_leaves_the_registry_at_once(
    make_config: Callable[..., LoadedConfig],
) -> None:
    runtime = Runtime(make_config('[history]\nstore = ""\n'), host=PluginHost(), load_entry_points=False)
    async with runtime.running():
        other = WorkerBeacon(runtime.redis, runtime.calls, stream=runtime.config.bus.stream, worker="w2")
        await other.start()
        workers = LiveWorkers(runtime.redis, stream=runtime.config.bus.stream)
        assert set(await workers.status()) == {runtime.worker, "w2"}
        await other.stop()
        assert set(await workers.status()) == {runtime.worker}
        ttl_ms = await runtime.redis.pttl(f"{runtime.config.bus.stream}:worker:{runtime.worker}")
        assert 0 < ttl_ms <= 15_000
