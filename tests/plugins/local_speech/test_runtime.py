"""A worker with the plugin: not ready until the models are warm, then ready, with the pools'
metrics at /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import uvicorn
from _speechkit import Kit
from artagent.app import create_app
from artagent.config import LoadedConfig
from artagent.runtime import Runtime


async def test_readiness_waits_for_the_warm_up_and_metrics_show_the_pools(
    kit: Kit, make_config: Callable[..., LoadedConfig]
) -> None:
    runtime = Runtime(make_config('[session]\nvad = "silero"\nstt = "whisper"\ntts = "piper"\n'))
    assert runtime.checks["providers"] == "not warmed up yet"
    # The models may already be loaded in this process: hold the warm-up until readiness has
    # been seen saying so, then let the real one run.
    gate, warm_up = asyncio.Event(), runtime.sessions.warm_up

    async def held_warm_up() -> None:
        await gate.wait()
        await warm_up()

    runtime.sessions.warm_up = held_warm_up  # type: ignore[method-assign]
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=0, lifespan="on", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(60):
            while not server.started:  # noqa: ASYNC110 (uvicorn offers no event)
                await asyncio.sleep(0.02)
            port = server.servers[0].sockets[0].getsockname()[1]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                seen = set()
                while (ready := await http.get("/readiness")).status_code != 200:
                    seen.add(ready.json()["checks"]["providers"])
                    if ready.json()["checks"]["providers"].startswith("warming up"):
                        gate.set()
                    await asyncio.sleep(0.02)
                metrics = (await http.get("/metrics")).text
        assert ready.json()["checks"]["providers"] == "ok"
        warming = "warming up vad:silero, stt:whisper, tts:piper, model:flows"
        assert warming in seen and seen <= {"not warmed up yet", warming}
        assert 'artagent_local_speech_workers{pool="stt"} 2.0' in metrics
        assert 'artagent_local_speech_queue_depth{pool="tts"} 0.0' in metrics
        assert 'artagent_local_speech_inference_seconds_count{pool="vad"}' in metrics
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)
