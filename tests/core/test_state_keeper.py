"""The StateKeeper against a real (embedded) Redis: saves never hold the call up and coalesce,
survive Redis going away and coming back, the last state is written at the end, and a worker
that lost the call to another one stops writing it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

import pytest
from _launcher_kit import wait_until
from artagent.bus.redis import EmbeddedRedis
from artagent.session.persistence import StateKeeper
from artagent.session.state import Message, SessionState, SessionStore
from redis.asyncio import Redis

CALL = "call-1"


@pytest.fixture
async def redis(embedded_redis: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(embedded_redis.url)
    yield client
    await client.aclose()


@pytest.fixture
def store(redis: Redis) -> SessionStore:
    return SessionStore(redis, ttl_s=600)


class SlowLink:
    """A Unix socket in front of Redis whose replies can be held back (a slow network)."""

    def __init__(self, target: Path, path: Path) -> None:
        self.target, self.path = target, path
        self.reply_delay_s = 0.0
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> SlowLink:
        self._server = await asyncio.start_unix_server(self._connect, path=str(self.path))
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def _connect(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        redis_r, redis_w = await asyncio.open_unix_connection(str(self.target))
        for pump in (self._pump(client_r, redis_w, slow=False), self._pump(redis_r, client_w, slow=True)):
            task = asyncio.create_task(pump)
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, slow: bool) -> None:
        try:
            while data := await reader.read(65536):
                if slow and self.reply_delay_s:
                    await asyncio.sleep(self.reply_delay_s)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            with contextlib.suppress(ConnectionError):
                writer.close()


def take_turn(state: SessionState, text: str) -> None:
    state.turn += 1
    state.history.append(Message(role="user", content=text))


async def stored_turn(store: SessionStore, turn: int) -> SessionState | None:
    state = await store.load(CALL)
    return state if state is not None and state.turn == turn else None


async def test_a_burst_of_changes_is_one_save_and_the_latest_state_wins(
    store: SessionStore, redis: Redis
) -> None:
    keeper = StateKeeper(store, "worker-a")
    state = await keeper.acquire(CALL, "test")
    for n in range(100):
        take_turn(state, f"utterance {n}")
        keeper.changed()
    saved = await wait_until(lambda: stored_turn(store, 100))
    assert (keeper.saves, saved.version, len(saved.history)) == (1, 1, 100)

    # Redis is slow (writes held for 300 ms): the turns taken meanwhile go out in one more save.
    await redis.execute_command("CLIENT", "PAUSE", 300, "WRITE")
    take_turn(state, "during the pause")
    keeper.changed()
    await asyncio.sleep(0.02)  # the keeper's save is now waiting on Redis
    for n in range(20):
        take_turn(state, f"still paused {n}")
        keeper.changed()
        await asyncio.sleep(0.005)
    saved = await wait_until(lambda: stored_turn(store, 121))
    assert (keeper.saves, saved.version) == (3, 3)
    assert saved.history == state.history and saved.history[-1].content == "still paused 19"
    assert await keeper.close()


async def test_saves_are_retried_while_redis_is_away_and_nothing_is_lost(
    store: SessionStore, embedded_redis: EmbeddedRedis
) -> None:
    keeper = StateKeeper(store, "worker-a", retry_max_s=0.1)
    state = await keeper.acquire(CALL, "test")
    take_turn(state, "before")
    keeper.changed()
    await wait_until(lambda: stored_turn(store, 1))

    await asyncio.to_thread(embedded_redis.stop)
    for text in ("while away 1", "while away 2"):
        take_turn(state, text)
        keeper.changed()
    await wait_until(lambda: keeper.failures >= 3, what="the keeper to retry its save")
    await asyncio.to_thread(embedded_redis.start)  # its data is back from the append-only file

    saved = await wait_until(lambda: stored_turn(store, 3))
    assert [m.content for m in saved.history] == ["before", "while away 1", "while away 2"]
    assert saved.version == 2, "one write once Redis was back, none lost or doubled"
    assert await store.owner(CALL) == "worker-a"
    assert await keeper.close()
    assert await store.owner(CALL) is None


async def test_close_writes_the_last_state_and_releases_the_lease(store: SessionStore) -> None:
    keeper = StateKeeper(store, "worker-a")
    state = await keeper.acquire(CALL, "test")
    assert await store.owner(CALL) == "worker-a"
    take_turn(state, "last words")
    state.seq = 42  # changed() not called: close() writes whatever the state is now
    assert await keeper.close()

    saved = await store.load(CALL)
    assert saved is not None and (saved.turn, saved.seq, saved.worker) == (1, 42, "worker-a")
    assert await store.owner(CALL) is None
    # Another worker may now take the call over and goes on from there.
    successor = StateKeeper(store, "worker-b")
    resumed = await successor.acquire(CALL, "test")
    assert [m.content for m in resumed.history] == ["last words"] and resumed.worker == "worker-b"
    await successor.close()


async def test_close_right_after_the_last_change_returns_at_once(store: SessionStore) -> None:
    """The end of every call: the session marks its last state changed and the launcher closes
    the keeper in the same breath."""
    keeper = StateKeeper(store, "worker-a")
    state = await keeper.acquire(CALL, "test")
    await asyncio.sleep(0.05)  # the keeper waits for a change
    take_turn(state, "goodbye")
    keeper.changed()
    assert await asyncio.wait_for(keeper.close(), 3)
    saved = await store.load(CALL)
    assert saved is not None and saved.turn == 1 and await store.owner(CALL) is None


async def test_close_during_a_save_in_flight_still_writes_the_last_state(
    embedded_redis: EmbeddedRedis, data_dir: Path
) -> None:
    """Redis has written the save but its answer is still on the way when the call ends."""
    async with SlowLink(embedded_redis.socket, data_dir / "slow.sock") as link:
        client = Redis(unix_socket_path=str(link.path))
        store = SessionStore(client, ttl_s=600)
        keeper = StateKeeper(store, "worker-a")
        state = await keeper.acquire(CALL, "test")
        take_turn(state, "hello")
        keeper.changed()
        await wait_until(lambda: stored_turn(store, 1))
        link.reply_delay_s = 0.2
        take_turn(state, "the last answer")
        keeper.changed()
        await asyncio.sleep(0.05)  # that save is done in Redis, its reply not back yet
        take_turn(state, "call ended")
        assert await asyncio.wait_for(keeper.close(), 3)
        link.reply_delay_s = 0.0
        saved = await store.load(CALL)
        assert not keeper.lost
        contents = ["hello", "the last answer", "call ended"]
        assert saved is not None and [m.content for m in saved.history] == contents
        assert await store.owner(CALL) is None
        await client.aclose()


async def test_close_does_not_hang_on_an_unreachable_redis(
    store: SessionStore, embedded_redis: EmbeddedRedis
) -> None:
    keeper = StateKeeper(store, "worker-a", retry_max_s=0.1)
    state = await keeper.acquire(CALL, "test")
    await asyncio.to_thread(embedded_redis.stop)
    take_turn(state, "unsaved")
    started = time.monotonic()
    assert not await keeper.close(timeout_s=0.5), "close() says the last state did not reach Redis"
    assert time.monotonic() - started < 3


async def test_a_new_call_under_an_old_id_starts_afresh(store: SessionStore) -> None:
    old = StateKeeper(store, "worker-a")
    take_turn(await old.acquire(CALL, "test"), "an earlier call")
    await old.close()

    keeper = StateKeeper(store, "worker-b")
    state = await keeper.acquire(CALL, "browser", resume=False)
    assert (state.history, state.channel) == ([], "browser")
    take_turn(state, "a new call")
    assert await keeper.close()
    saved = await store.load(CALL)
    assert saved is not None and [m.content for m in saved.history] == ["a new call"]


async def test_a_worker_overtaken_by_another_stops_writing_the_call(
    store: SessionStore, redis: Redis
) -> None:
    first = StateKeeper(store, "worker-a")
    state_a = await first.acquire(CALL, "test")
    take_turn(state_a, "hello")
    first.changed()
    await wait_until(lambda: stored_turn(store, 1))

    # worker-a stalls long enough for its lease to lapse; worker-b resumes the call.
    await redis.delete(store.owner_key(CALL))
    second = StateKeeper(store, "worker-b")
    state_b = await second.acquire(CALL, "test")
    take_turn(state_b, "resumed by b")
    second.changed()
    await wait_until(lambda: stored_turn(store, 2))

    # worker-a wakes up and saves its own (now stale) version of turn 2: refused, it gives up.
    take_turn(state_a, "stale turn of a")
    first.changed()
    await wait_until(lambda: first.lost, what="worker-a to notice it lost the call")
    saves = first.saves
    take_turn(state_a, "more from a")
    first.changed()
    await first.close()
    assert first.saves == saves, "no more writes once the call was lost"

    stored = await store.load(CALL)
    assert stored is not None and stored.worker == "worker-b"
    assert [m.content for m in stored.history] == ["hello", "resumed by b"]
    assert await store.owner(CALL) == "worker-b", "worker-a's close() left b's lease alone"
    take_turn(state_b, "b goes on")
    assert await second.close()
    stored = await store.load(CALL)
    assert stored is not None and stored.history[-1].content == "b goes on"
    assert await store.owner(CALL) is None
