"""SIGTERM with calls in progress: not-ready, no new calls, every call says its farewell and
publishes call_ended, its last state is saved, and the process exits 0.

The calls are real sessions run by ``runtime.sessions``: a test plugin offers fake speech and
model providers through ``register_providers`` and a route that starts a call whose caller
stays silent until the agent hangs up.
"""

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
GREETING = "Hello from the test line."
FAREWELL = "This line is closing now. Goodbye."

# A test channel: POST starts a session whose caller stays silent until the agent hangs up.
CALLS_PLUGIN = """
import asyncio
from litestar import post, Request, Response
from artagent.calls import DrainingError
from artagent.hookspecs import hookimpl
from artagent.providers import ProviderSpec
from artagent.session.playout import LoopClock
from artagent.testing import FakeChannel, FakeModel, FakeSTT, FakeTTS, FakeVAD

CLOCK = LoopClock()
_tasks = set()


def _keep(task):
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _stay_silent(channel):
    while channel.hangup_reason is None:
        await channel.silence(0.1)


@post("/test/calls/{call_id:str}", status_code=202)
async def start_call(call_id: str, request: Request) -> Response:
    runtime = request.app.state.runtime
    channel = FakeChannel(CLOCK)
    call = asyncio.create_task(runtime.sessions.run(call_id, channel, channel_name="test"))
    while call_id not in runtime.calls and not call.done():
        await asyncio.sleep(0)  # run() admits the call, or refuses it, before its first await
    if call.done() and isinstance(call.exception(), DrainingError):
        return Response({"error": str(call.exception())}, status_code=503)
    _keep(call)
    _keep(asyncio.create_task(_stay_silent(channel)))
    return Response({"call_id": call_id}, status_code=202)


@hookimpl
def register_providers():
    return [
        ProviderSpec("vad", "fake", lambda settings: FakeVAD()),
        ProviderSpec("stt", "fake", lambda settings: FakeSTT(CLOCK, partial_every=0, final_latency_s=0.05)),
        ProviderSpec("tts", "fake", lambda settings: FakeTTS(CLOCK, seconds_per_char=0.004,
                                                             first_audio_latency_s=0.01)),
        ProviderSpec("model", "fake", lambda settings: FakeModel(CLOCK, first_token_latency_s=0.02)),
    ]


@hookimpl
def register_routes():
    return [start_call]
"""


def test_sigterm_drains_active_calls(data_dir: Path, fake_distribution: Callable[..., Path]) -> None:
    site = fake_distribution("artagent-testcalls", {"testcalls": "artagent_testcalls"},
                             {"artagent_testcalls": CALLS_PLUGIN})  # fmt: skip
    state = data_dir / "state"
    config = data_dir / "runtime.toml"
    # The installed verticals are disabled: these calls are one plain assistant on the fake model.
    config.write_text(f'[runtime]\ndata_dir = "{state}"\ndisable_plugins = ["insurance"]\n'
                      '[server]\nport = 0\ndrain_timeout_s = 1.5\n'
                      '[session]\nvad = "fake"\nstt = "fake"\ntts = "fake"\nmodel = "fake"\n'
                      f'greeting = "{GREETING}"\nfarewell = "{FAREWELL}"\n'
                      'idle_reprompt_s = 600.0\nidle_hangup_s = 1200.0\n'
                      '[observability]\nlog_level = "WARNING"\n')  # fmt: skip
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
        assert proc.wait(timeout=30) == 0, proc.stdout.read()
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
        sessions = {f"drain-{i}": client.hgetall(f"artagent:session:drain-{i}") for i in range(3)}
        leases = client.keys("artagent:session:*:owner")
    finally:
        server.stop()
    ended = {e["call_id"]: e["reason"] for e in events if e["type"] == "call_ended"}
    assert ended == {f"drain-{i}": "worker_shutdown" for i in range(3)}
    assert "too-late" not in {e["call_id"] for e in events}
    for call_id, saved in sessions.items():
        mine = [e for e in events if e["call_id"] == call_id]
        assert mine[0]["type"] == "call_started" and mine[0]["channel"] == "test"
        said = [e["text"] for e in mine if e["type"] == "agent_response_generated"]
        assert said == [GREETING, FAREWELL], f"{call_id} said goodbye before hanging up"
        assert mine[-1]["type"] == "call_ended"
        history = json.loads(saved[b"history"])
        assert [m["content"] for m in history] == [GREETING, FAREWELL]
        assert json.loads(saved[b"seq"]) == mine[-1]["seq"], f"{call_id}'s last state was saved"
    assert leases == [], "every call's lease was released"
    spill = sqlite3.connect(state / "outbox.sqlite3")
    assert spill.execute("SELECT count(*) FROM spill").fetchone()[0] == 0
