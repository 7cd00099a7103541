"""Session state in a real (embedded) Redis: round trip, TTL, versions, leases, resuming a call in
another process, and clear errors for bad stored data."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from artagent.bus.redis import EmbeddedRedis
from artagent.session.state import (
    Message,
    SessionDecodeError,
    SessionState,
    SessionStore,
    StaleSessionError,
)
from redis.asyncio import Redis

CHILD = Path(__file__).with_name("_session_resume_proc.py")
CALL = "call-7f3a"


@pytest.fixture
async def redis(embedded_redis: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(embedded_redis.url)
    yield client
    await client.aclose()


@pytest.fixture
def store(redis: Redis) -> SessionStore:
    return SessionStore(redis, ttl_s=3600)


def a_state(call_id: str = CALL) -> SessionState:
    tool_call = {
        "id": "tc_1",
        "type": "function",
        "function": {"name": "lookup_policy", "arguments": '{"policy_no": "ÄB-123"}'},
    }
    return SessionState(
        call_id=call_id,
        channel="browser",
        scenario="insurance",
        active_agent="auth",
        started_at=dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC),
        worker="worker-a",
        history=[
            Message(role="system", content="Tu es un assistant d'assurance."),
            Message(role="user", content="Bonjour, mon nom est Zoë 李 — police ÄB-123 🚗", at=2.5),
            Message(role="assistant", content="", agent="auth", tool_calls=[tool_call], at=3.1),
            Message(role="tool", name="lookup_policy", tool_call_id="tc_1", content='{"ok": true}', at=3.4),
            Message(role="assistant", content="Merci Zoë, je", agent="auth", interrupted=True, at=4.0),
        ],
        fields={"name": "Zoë 李", "policy_no": "ÄB-123", "verified": True, "dob": {"year": 1990}},
        turn=2,
        metadata={"caller": "+33 6 12 34 56 78"},
    )


async def test_a_saved_session_loads_back_identical(store: SessionStore) -> None:
    state = a_state()
    before = dt.datetime.now(dt.UTC)
    await store.save(state)
    assert state.version == 1
    assert state.updated_at >= before

    loaded = await store.load(CALL)
    assert loaded == state
    assert loaded is not None and loaded.history[2].tool_calls == state.history[2].tool_calls
    assert await store.load("call-never-seen") is None


async def test_each_part_is_a_json_field_of_its_own(store: SessionStore, redis: Redis) -> None:
    await store.save(a_state())

    async def field(name: str) -> Any:
        raw = await redis.hget(f"artagent:session:{CALL}", name)
        assert raw is not None, name
        return json.loads(raw)

    assert await field("fields") == a_state().fields
    assert await field("active_agent") == "auth"
    assert await field("version") == 1
    history = await field("history")
    assert history[-1] == {
        "role": "assistant", "content": "Merci Zoë, je", "agent": "auth", "interrupted": True, "at": 4.0
    }  # fmt: skip


async def test_the_ttl_is_set_and_refreshed_by_every_save(store: SessionStore, redis: Redis) -> None:
    state = a_state()
    await store.save(state)
    ttl = await store.ttl(CALL)
    assert ttl is not None and 3590 < ttl <= 3600

    await redis.pexpire(store.key(CALL), 5000)
    remaining = await store.ttl(CALL)
    assert remaining is not None and remaining <= 5
    state.turn += 1
    await store.save(state)
    ttl = await store.ttl(CALL)
    assert ttl is not None and 3590 < ttl <= 3600

    await redis.persist(store.key(CALL))
    assert await store.ttl(CALL) == math.inf
    assert await store.ttl("call-never-seen") is None


async def test_a_session_expires_after_its_ttl(redis: Redis) -> None:
    store = SessionStore(redis, ttl_s=1)
    await store.save(a_state())
    ttl = await store.ttl(CALL)
    assert ttl is not None and 0 < ttl <= 1
    deadline = time.monotonic() + 10
    while await store.load(CALL) is not None:
        assert time.monotonic() < deadline, "the session outlived its 1 s TTL by 9 s"
        await asyncio.sleep(0.05)
    assert await store.ttl(CALL) is None


async def test_saving_a_stale_state_raises_and_changes_nothing(store: SessionStore) -> None:
    await store.save(a_state())
    first, second = await store.load(CALL), await store.load(CALL)
    assert first is not None and second is not None
    first.turn = 3
    await store.save(first)
    assert first.version == 2

    second.turn = 99
    with pytest.raises(StaleSessionError) as caught:
        await store.save(second)
    assert (caught.value.call_id, caught.value.expected, caught.value.found) == (CALL, 1, 2)
    message = str(caught.value)
    assert CALL in message and "version 2" in message and "stored version 1" in message
    assert second.version == 1
    stored = await store.load(CALL)
    assert stored is not None and stored.turn == 3 and stored.version == 2


async def test_a_new_state_cannot_overwrite_a_stored_one(store: SessionStore) -> None:
    await store.save(a_state())
    with pytest.raises(StaleSessionError, match="expected no stored session but found version 1"):
        await store.save(a_state())


async def test_a_deleted_session_cannot_be_saved_over(store: SessionStore) -> None:
    state = a_state()
    await store.save(state)
    assert await store.claim(CALL, "worker-a", lease_s=30)
    assert await store.delete(CALL)
    assert await store.load(CALL) is None and await store.owner(CALL) is None
    with pytest.raises(StaleSessionError) as caught:
        await store.save(state)
    assert caught.value.found is None
    assert not await store.delete(CALL)


async def test_only_one_worker_holds_a_call(store: SessionStore) -> None:
    assert await store.claim(CALL, "worker-a", lease_s=30)
    assert not await store.claim(CALL, "worker-b", lease_s=30)
    assert await store.claim(CALL, "worker-a", lease_s=30), "re-claiming one's own lease extends it"
    assert not await store.renew(CALL, "worker-b", lease_s=30)
    assert not await store.release(CALL, "worker-b")
    assert await store.owner(CALL) == "worker-a"
    assert await store.renew(CALL, "worker-a", lease_s=30)

    assert await store.release(CALL, "worker-a")
    assert await store.owner(CALL) is None
    assert await store.claim(CALL, "worker-b", lease_s=30)
    assert not await store.renew(CALL, "worker-a", lease_s=30)


async def test_a_lease_that_is_not_renewed_expires(store: SessionStore) -> None:
    assert await store.claim(CALL, "worker-a", lease_s=0.2)
    assert not await store.claim(CALL, "worker-b", lease_s=30)
    deadline = time.monotonic() + 10
    while not await store.claim(CALL, "worker-b", lease_s=30):
        assert time.monotonic() < deadline, "worker-a's 0.2 s lease never expired"
        await asyncio.sleep(0.05)
    assert await store.owner(CALL) == "worker-b"


async def test_another_process_resumes_the_call(store: SessionStore, embedded_redis: EmbeddedRedis) -> None:
    state = a_state()
    assert await store.claim(CALL, "worker-a", lease_s=60)
    await store.save(state)

    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), embedded_redis.url, CALL, "worker-b", "20",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        first = await asyncio.wait_for(child.stdout.readline(), timeout=30)
        assert first.strip() == b"blocked", (first, await child.stderr.read() if child.stderr else b"")
        # worker-a dies: its lease is no longer renewed and runs out.
        assert await store.renew(CALL, "worker-a", lease_s=0.3)
        stdout, stderr = await asyncio.wait_for(child.communicate(), timeout=30)
        assert child.returncode == 0, stderr.decode()[-2000:]
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()

    assert json.loads(stdout) == {"version": 2, "turn": 3}
    resumed = await store.load(CALL)
    assert resumed is not None
    assert (resumed.version, resumed.turn, resumed.worker) == (2, 3, "worker-b")
    assert resumed.active_agent == "claims"
    assert resumed.history[: len(state.history)] == state.history
    assert [m.content for m in resumed.history[-2:]] == ["Je déménage à Zürich 🏠", "C'est noté."]
    assert resumed.fields == {**state.fields, "new_city": "Zürich"}
    assert await store.owner(CALL) is None, "the child released the call"
    with pytest.raises(StaleSessionError):
        await store.save(state)  # the first worker, back from the dead, cannot overwrite the turn


@pytest.mark.parametrize(
    ("field", "raw", "reason"),
    [
        ("history", b"not json at all", "does not decode"),
        ("history", b'[{"role": "robot", "content": "hi"}]', "robot"),
        ("fields", b"[1, 2]", "Expected `object`, got `array`"),
        ("started_at", b'"2025-03-01T09:30:00"', "timezone"),
        ("version", b'"three"', "Expected `int`, got `str`"),
    ],
)
async def test_a_corrupted_field_names_itself(
    store: SessionStore, redis: Redis, field: str, raw: bytes, reason: str
) -> None:
    await store.save(a_state())
    await redis.hset(store.key(CALL), field, raw)
    with pytest.raises(SessionDecodeError) as caught:
        await store.load(CALL)
    assert (caught.value.call_id, caught.value.field) == (CALL, field)
    message = str(caught.value)
    assert CALL in message and repr(field) in message and reason in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_missing_and_foreign_fields(store: SessionStore, redis: Redis) -> None:
    await store.save(a_state())
    await redis.hset(store.key(CALL), "written_by_a_newer_release", b'{"x": 1}')
    loaded = await store.load(CALL)
    assert loaded is not None and loaded.channel == "browser"

    await redis.hdel(store.key(CALL), "channel")
    with pytest.raises(SessionDecodeError, match=f"session '{CALL}': stored field 'channel' is missing"):
        await store.load(CALL)

    await redis.hset(store.key("call-other"), mapping={"call_id": b'"call-x"', "channel": b'"cli"'})
    with pytest.raises(SessionDecodeError, match="'call_id' holds another call's id: 'call-x'"):
        await store.load("call-other")


async def test_a_stale_save_on_a_non_numeric_version_says_so(store: SessionStore, redis: Redis) -> None:
    state = a_state()
    await store.save(state)
    await redis.hset(store.key(CALL), "version", b'"three"')
    with pytest.raises(StaleSessionError, match="a non-numeric version"):
        await store.save(state)


@pytest.mark.parametrize("ttl_s", [0, -1, float("nan"), float("inf")])
async def test_a_ttl_must_be_a_positive_duration(redis: Redis, ttl_s: float) -> None:
    with pytest.raises(ValueError, match="ttl_s must be a positive number of seconds"):
        SessionStore(redis, ttl_s=ttl_s)


async def test_an_empty_call_id_is_refused(store: SessionStore) -> None:
    with pytest.raises(ValueError, match="non-empty call_id"):
        await store.load("")


def test_messages_leave_their_defaults_out() -> None:
    encoded = msgspec.json.encode(Message(role="user", content="oui"))
    assert encoded == b'{"role":"user","content":"oui"}'
