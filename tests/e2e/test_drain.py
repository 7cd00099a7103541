"""SIGTERM with calls in progress: not-ready, no new calls, every call_ended published, exit 0."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import redis
from artagent.bus.redis import EmbeddedRedis

ARTAGENT = str(Path(sys.executable).parent / "artagent")
READY = re.compile(r"ARTAgent is ready: (http://[\d.]+:\d+)/")

# A stand-in channel: POST starts a call that lasts until it is ended (by the drain).
CALLS_PLUGIN = '''
import asyncio
from litestar import post, Request, Response
from artagent.hookspecs import hookimpl
from artagent.calls import DrainingError
from artagent.events import CallStarted, CallEnded

_tasks = set()

@post("/test/calls/{call_id:str}", status_code=202)
async def start_call(call_id: str, request: Request) -> Response:
    runtime = request.app.state.runtime
    emit = runtime.outbox.for_call(call_id)
    over = asyncio.Event()

    async def end(reason: str) -> None:
        emit.emit(CallEnded, reason=reason, outcome="ended_by_worker")
        over.set()

    try:
        runtime.calls.admit(call_id, end)
    except DrainingError as exc:
        return Response({"error": str(exc)}, status_code=503)
    emit.emit(CallStarted, channel="test")

    async def run() -> None:
        try:
            await over.wait()
        finally:
            await runtime.calls.finished(call_id)

    task = asyncio.create_task(run())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return Response({"call_id": call_id}, status_code=202)

@hookimpl
def register_routes():
    return [start_call]
'''


def test_sigterm_drains_active_calls(data_dir: Path, fake_distribution: Callable[..., Path]) -> None:
    site = fake_distribution("artagent-testcalls", {"testcalls": "artagent_testcalls"},
                             {"artagent_testcalls": CALLS_PLUGIN})  # fmt: skip
    state = data_dir / "state"
    config = data_dir / "runtime.toml"
    config.write_text(f'[runtime]\ndata_dir = "{state}"\n[server]\nport = 0\ndrain_timeout_s = 1.5\n'
                      '[logging]\nlevel = "WARNING"\n')  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.Popen([ARTAGENT, "serve", "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
    try:
        assert proc.stdout is not None
        url = next(m.group(1) for line in proc.stdout if (m := READY.search(line)))
        for i in range(3):
            assert httpx.post(f"{url}/test/calls/drain-{i}").status_code == 202
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        ready = httpx.get(f"{url}/readiness")
        assert ready.status_code == 503 and "draining" in ready.json()["not_ready"]
        refused = httpx.post(f"{url}/test/calls/too-late")
        assert refused.status_code == 503 and "no new calls" in refused.json()["error"]
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()

    # Everything the calls published is on the stream (the embedded Redis kept it on disk),
    # and nothing is left in the outbox's spill file.
    server = EmbeddedRedis(state)
    server.start()
    try:
        client = redis.Redis(unix_socket_path=str(server.socket))
        events = [json.loads(f[b"event"]) for _, f in client.xrange("artagent:events")]
        ended = {e["call_id"]: e["reason"] for e in events if e["type"] == "call_ended"}
        assert ended == {f"drain-{i}": "worker_shutdown" for i in range(3)}
        assert "too-late" not in {e["call_id"] for e in events}
    finally:
        server.stop()
    spill = sqlite3.connect(state / "outbox.sqlite3")
    assert spill.execute("SELECT count(*) FROM spill").fetchone()[0] == 0
