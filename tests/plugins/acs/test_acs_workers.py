"""Two worker processes behind one address, sharing one Redis, with no session affinity: a call
answered by worker A has its media socket on worker B (the "load balancer", the fake ACS's
media route, sends it there), and everything ACS and the operator send to A about the call
reaches it on B: callbacks posted before and after the media connected, a refused transfer's
verdict, an accepted one, the call's disconnection, a hang-up."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _acs_kit import APOLOGY, INCOMING, speech, wait_until
from _fake_acs import KEY, FakeAcs, FakeCall
from artagent.bus.redis import EmbeddedRedis
from redis.asyncio import Redis

WORKER = Path(__file__).with_name("_worker_proc.py")
FORWARDED = "artagent_acs_forwarded_requests_total"
SIGNING = "a-signing-key-every-worker-shares-0123456789"


@dataclass
class Worker:
    name: str
    base: str
    process: asyncio.subprocess.Process

    async def metric(self, line_start: str) -> float:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"{self.base}/metrics")).text
        return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(line_start))


def _config(name: str, folder: Path, redis_url: str, acs: FakeAcs) -> Path:
    folder.mkdir()
    config = folder / "runtime.toml"
    config.write_text(
        f'[runtime]\ndata_dir = "{folder}"\nworker_name = "{name}"\n[bus]\nredis_url = "{redis_url}"\n'
        f'[plugins.acs]\nendpoint = "{acs.url}"\nkey_env = "ACS_KEY"\nsigning_key_env = "SIGNING"\n'
        'transfer_target = "+18005550123"\n'
    )
    return config


async def _start(name: str, folder: Path, redis_url: str, acs: FakeAcs) -> Worker:
    config = _config(name, folder, redis_url, acs)
    env = {**os.environ, "ACS_KEY": KEY, "SIGNING": SIGNING}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), str(config), "a person please",
        cwd=WORKER.parent, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 90)
    if not line.startswith(b"ready "):
        stderr = await process.stderr.read() if process.stderr else b""
        raise AssertionError(f"worker {name} did not start: {line!r} {stderr.decode()[-3000:]}")
    return Worker(name, line.split()[1].decode(), process)


async def _stop(worker: Worker) -> str:
    if worker.process.returncode is None:
        worker.process.terminate()
    _, stderr = await asyncio.wait_for(worker.process.communicate(), 30)
    return stderr.decode()


@asynccontextmanager
async def two_workers(folder: Path) -> AsyncIterator[tuple[Worker, Worker, FakeAcs, Redis]]:
    """Workers A and B on one Redis; the fake ACS sends every media socket to B."""
    redis_server = EmbeddedRedis(folder)
    redis_server.start()
    acs = FakeAcs()
    await acs.start()
    workers: list[Worker] = []
    redis = Redis.from_url(redis_server.url)
    try:
        workers = list(
            await asyncio.gather(
                _start("worker-a", folder / "a", redis_server.url, acs),
                _start("worker-b", folder / "b", redis_server.url, acs),
            )
        )
        a, b = workers
        acs.media_route = lambda url: url.replace(f"ws{a.base[4:]}", f"ws{b.base[4:]}")
        yield a, b, acs, redis
    finally:
        await acs.stop()
        logs = [await _stop(worker) for worker in workers]
        await redis.aclose()
        redis_server.stop()
        for log in logs:
            assert "Traceback" not in log, log[-3000:]


async def events_of(redis: Redis, call_id: str) -> list[dict[str, Any]]:
    entries = await redis.xrange("artagent:events")
    return [e for e in (json.loads(f[b"event"]) for _, f in entries) if e["call_id"] == call_id]


async def until_event(redis: Redis, call_id: str, accept: Callable[[dict[str, Any]], bool]) -> bool:
    for _ in range(300):
        if any(accept(e) for e in await events_of(redis, call_id)):
            return True
        await asyncio.sleep(0.1)
    return False


async def answer_on(worker: Worker, acs: FakeAcs) -> tuple[str, FakeCall]:
    async with httpx.AsyncClient() as client:
        answered = await client.post(f"{worker.base}/api/v1/calls/answer", json=[INCOMING])
    assert answered.status_code == 200, answered.text
    [call_id] = answered.json()["answered"]
    fake = next(c for c in acs.calls.values() if c.body["operationContext"] == call_id)
    assert fake.callback_url.startswith(worker.base), "ACS calls the answering worker back"
    assert await wait_until(lambda: fake.phone is not None and fake.phone.heard_s() > 0.4, 20)
    return call_id, fake


async def test_a_call_answered_on_one_worker_runs_on_another_and_hears_what_reaches_the_first(
    data_dir: Path,
) -> None:
    async with two_workers(data_dir) as (a, b, acs, redis):
        acs.transfer_succeeds = False
        call_id, fake = await answer_on(a, acs)
        assert fake.phone is not None
        started = await events_of(redis, call_id)
        assert started[0]["type"] == "call_started" and started[0]["worker"] == "worker-b"
        record = await redis.hgetall(f"artagent:acs:call:{{{call_id}}}")
        assert record[b"worker"] == b"worker-b"
        assert json.loads(record[b"record"])["connection_id"] == fake.connection_id
        assert 0 < await redis.pttl(f"artagent:acs:call:{{{call_id}}}")
        # ParticipantsUpdated, posted to A after the media connected, reached the call on B.
        assert await until_event(redis, call_id, lambda e: e["type"] == "participant_joined")
        # The caller asks for a person: B transfers; ACS's refusal, posted to A, reaches B.
        await asyncio.sleep(1.0)
        await fake.phone.say(speech(0.5))
        assert await wait_until(lambda: bool(acs.bodies(":transferToParticipant")), 20)
        assert await until_event(redis, call_id, lambda e: e.get("text") == APOLOGY)
        # The operator hangs up through A: B says goodbye and hangs up on ACS.
        async with httpx.AsyncClient() as client:
            hung = await client.post(f"{a.base}/api/v1/calls/{call_id}/hangup")
        assert hung.status_code == 202 and "worker-b" in hung.json()["status"]
        assert await until_event(redis, call_id, lambda e: e["type"] == "call_ended")
        events = await events_of(redis, call_id)
        assert [e["reason"] for e in events if e["type"] == "call_ended"] == ["hangup_requested"]
        errors = [e for e in events if e["type"] == "error_occurred"]
        assert [e["stage"] for e in errors] == ["transfer"] and "did not answer" in errors[0]["message"]
        assert await wait_until(lambda: bool(acs.bodies(":terminate")), 10)
        assert await wait_until(lambda: fake.phone is not None and fake.phone.closed, 10)
        assert not await redis.exists(f"artagent:acs:call:{{{call_id}}}"), "forgotten once over"
        assert await a.metric(FORWARDED + '{kind="callbacks",outcome="owned"}') >= 2
        assert await a.metric(FORWARDED + '{kind="hangup",outcome="owned"}') == 1
        assert await b.metric(FORWARDED + '{kind="callbacks",outcome="received"}') >= 3
        assert await a.metric("artagent_acs_media_streams") == 0
        # A call that is over is unknown everywhere.
        async with httpx.AsyncClient() as client:
            gone = await client.post(f"{a.base}/api/v1/calls/{call_id}/hangup")
        assert gone.status_code == 404


async def test_an_accepted_transfer_and_acs_hanging_up_reach_the_hosting_worker(data_dir: Path) -> None:
    async with two_workers(data_dir) as (a, _b, acs, redis):
        transferred, fake = await answer_on(a, acs)
        assert fake.phone is not None
        await asyncio.sleep(1.0)
        await fake.phone.say(speech(0.5))  # a person, please: ACS accepts the transfer
        assert await until_event(redis, transferred, lambda e: e["type"] == "call_ended")
        ended = [e for e in await events_of(redis, transferred) if e["type"] == "call_ended"]
        assert ended[0]["reason"] == "transferred"
        assert not acs.bodies(":terminate"), "a transferred call is not hung up"

        dropped, fake = await answer_on(a, acs)
        await acs.callback(fake, "CallDisconnected")  # to A; the phone's socket (on B) stays open
        assert await until_event(redis, dropped, lambda e: e["type"] == "call_ended")
        ended = [e for e in await events_of(redis, dropped) if e["type"] == "call_ended"]
        assert ended[0]["reason"] == "caller_hangup"
        assert await wait_until(lambda: fake.phone is not None and fake.phone.closed, 10)
