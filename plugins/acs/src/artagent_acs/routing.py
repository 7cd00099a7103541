"""Which worker carries each ACS call, shared through Redis, and messages to that worker.

Several workers (processes, replicas) serve one public address, and nothing routes a call's
requests to one of them: its media WebSocket, its Call Automation callbacks and an operator's
hang-up may each reach a different worker. So:

- every call is recorded in Redis when it is answered, placed or simulated (a
  :class:`CallRecord`), with a TTL, before ACS is asked anything;
- the worker its media WebSocket reaches claims it (the record's ``worker`` field) and hosts
  it: the session, the media and the call's in-memory state live there;
- a callback or a hang-up that reaches another worker is forwarded to the owner's inbox, a
  Redis Stream per worker that the owner reads while it hosts calls (a stream, not pub/sub: what
  arrives while the owner is busy waits for it). One that comes before any worker has claimed the
  call (``CallConnected`` usually does) waits in the call's pending list, handed to whoever claims it.

Redis keys (the call id in braces is a Redis Cluster hash tag: one call's keys share a slot)::

    artagent:acs:call:{<call_id>}          hash: record (CallRecord JSON), worker (once claimed)
    artagent:acs:call:{<call_id>}:pending  list of Forwarded JSON waiting for a claim
    artagent:acs:inbox:<worker>            stream of Forwarded JSON (field "message")

Nothing here runs per audio frame: a few commands per call, one per forwarded request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from artagent_acs.webhooks import CallbackEvent

__all__ = [
    "CallRecord",
    "CallRouter",
    "Claim",
    "Forwarded",
    "ForwardedCallbacks",
    "ForwardedHangup",
    "Route",
    "WorkerInbox",
]

log = logging.getLogger(__name__)
PREFIX = "artagent:acs"
INBOX_MAXLEN = 10_000
INBOX_TTL_S = 24 * 3600
PENDING_MAX = 200
Direction = Literal["inbound", "outbound", "simulated"]


class CallRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What any worker needs to host a call, or to act on it without hosting it."""

    call_id: str
    direction: Direction
    caller: str | None = None
    callee: str | None = None
    scenario: str | None = None
    """The scenario the answering worker chose for the number called (for dashboards)."""
    connection_id: str | None = None
    """ACS's ``callConnectionId`` once answer/create returned (callbacks also carry it)."""
    server_call_id: str | None = None
    events: bool = False
    created_at: float = 0.0
    """Unix time the call was recorded."""


class Forwarded(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    call_id: str

    def kind(self) -> str:
        return str(type(self).__struct_config__.tag)


class ForwardedCallbacks(Forwarded, frozen=True, kw_only=True, tag="callbacks"):
    """Call Automation events posted to a worker that does not host the call."""

    events: list[CallbackEvent]


class ForwardedHangup(Forwarded, frozen=True, kw_only=True, tag="hangup"):
    """An operator's hang-up sent to a worker that does not host the call."""

    reason: str = "hangup_requested"


Message = ForwardedCallbacks | ForwardedHangup
_message = msgspec.json.Decoder(Message)
_record = msgspec.json.Decoder(CallRecord)


class Route(msgspec.Struct, frozen=True):
    """Where a forwarded request went: ``owned`` (to ``worker``'s inbox), ``pending`` (no worker
    has claimed the call yet), ``unowned`` (not queued: ``record`` says what is known), or
    ``unknown`` (no such call, or it is over)."""

    outcome: Literal["owned", "pending", "unowned", "unknown"]
    worker: str | None = None
    record: CallRecord | None = None


class Claim(msgspec.Struct, frozen=True):
    """A claim's result: ``record`` and the messages that waited for it, or why not."""

    record: CallRecord | None = None
    pending: list[Forwarded] = msgspec.field(default_factory=list)
    owner: str | None = None
    """Who holds the call when it was already claimed."""


_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'record', ARGV[1])
return 1
"""
_CLAIM = """
local record = redis.call('HGET', KEYS[1], 'record')
if not record then return {'missing'} end
if redis.call('HSETNX', KEYS[1], 'worker', ARGV[1]) == 0 then
  return {'taken', redis.call('HGET', KEYS[1], 'worker')}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local out = {'claimed', record}
for _, message in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do out[#out + 1] = message end
redis.call('DEL', KEYS[2])
return out
"""
_ROUTE = """
local record = redis.call('HGET', KEYS[1], 'record')
if not record then return {'unknown'} end
local owner = redis.call('HGET', KEYS[1], 'worker')
if owner then return {'owned', owner} end
if ARGV[2] == '0' then return {'unowned', record} end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('PEXPIRE', KEYS[2], math.max(redis.call('PTTL', KEYS[1]), 1))
return {'pending'}
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class CallRouter:
    """Records calls, claims them for a worker, forwards requests to their owner."""

    def __init__(self, redis: Redis, *, unclaimed_ttl_s: float, claimed_ttl_s: float) -> None:
        self.redis = redis
        self.unclaimed_ttl_ms = int(unclaimed_ttl_s * 1000)
        self.claimed_ttl_ms = int(claimed_ttl_s * 1000)
        self._update = redis.register_script(_UPDATE)
        self._claim = redis.register_script(_CLAIM)
        self._route = redis.register_script(_ROUTE)

    @staticmethod
    def key(call_id: str) -> str:
        return f"{PREFIX}:call:{{{call_id}}}"

    @staticmethod
    def inbox_key(worker: str) -> str:
        return f"{PREFIX}:inbox:{worker}"

    def _keys(self, call_id: str) -> list[str]:
        return [self.key(call_id), self.key(call_id) + ":pending"]

    async def record(self, record: CallRecord) -> None:
        """A new call, unclaimed: it expires unless a worker claims it in time."""
        if not record.created_at:
            record = msgspec.structs.replace(record, created_at=round(time.time(), 3))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key(record.call_id), "record", msgspec.json.encode(record))
            pipe.pexpire(self.key(record.call_id), self.unclaimed_ttl_ms)
            await pipe.execute()

    async def update(self, record: CallRecord) -> bool:
        """Rewrite a recorded call's record (ACS's ids came back); False when it is gone."""
        keys = self._keys(record.call_id)[:1]
        return bool(await self._update(keys=keys, args=[msgspec.json.encode(record)]))

    async def load(self, call_id: str) -> CallRecord | None:
        raw = await self.redis.hget(self.key(call_id), "record")
        return None if raw is None else _record.decode(raw)

    async def owner(self, call_id: str) -> str | None:
        raw = await self.redis.hget(self.key(call_id), "worker")
        return None if raw is None else _text(raw)

    async def claim(self, call_id: str, worker: str) -> Claim:
        """Make ``worker`` the call's host (once, for the call's life) and hand it what waited."""
        reply = await self._claim(keys=self._keys(call_id), args=[worker, self.claimed_ttl_ms])
        status = _text(reply[0])
        if status == "missing":
            return Claim()
        if status == "taken":
            return Claim(owner=_text(reply[1]))
        pending = [m for m in (_decode_message(raw) for raw in reply[2:]) if m is not None]
        return Claim(record=_record.decode(reply[1]), pending=pending)

    async def forward(self, message: Forwarded, *, queue_unclaimed: bool = True) -> Route:
        """Send ``message`` to the worker hosting its call; before anyone hosts it, queue it
        for the claim (or, with ``queue_unclaimed`` false, say so and queue nothing)."""
        encoded = msgspec.json.encode(message)
        args = [encoded, "1" if queue_unclaimed else "0", PENDING_MAX]
        reply = await self._route(keys=self._keys(message.call_id), args=args)
        outcome = _text(reply[0])
        if outcome == "owned":
            worker = _text(reply[1])
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xadd(self.inbox_key(worker), {"message": encoded}, maxlen=INBOX_MAXLEN, approximate=True)
                pipe.expire(self.inbox_key(worker), INBOX_TTL_S)
                await pipe.execute()
            return Route("owned", worker=worker)
        if outcome == "unowned":
            return Route("unowned", record=_record.decode(reply[1]))
        return Route("pending" if outcome == "pending" else "unknown")

    async def forget(self, call_id: str) -> None:
        """The call is over: later requests about it are answered as for an unknown call."""
        await self.redis.delete(*self._keys(call_id))


def _decode_message(raw: bytes | str) -> Forwarded | None:
    try:
        message: Forwarded = _message.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("skipping an unreadable forwarded ACS message: %s", exc)
        return None
    return message


Handler = Callable[[Forwarded], Awaitable[None]]


class WorkerInbox:
    """This worker's inbox: read from the moment it first hosts a call until it hosts none.

    :meth:`hold` before claiming a call (so nothing sent to this worker after the claim is
    missed: reading starts at the stream's end as it was before the claim), :meth:`release`
    once the call is over. Messages are handled one at a time, in order; a Redis error pauses
    the reading (growing pauses, up to 2 s) without losing the position. The reading is never
    cancelled in the middle of a blocking ``XREAD`` (redis-py may then wait forever for the
    connection it drops): once released it stops after the current read, within ``block_ms``,
    and a call held meanwhile keeps it going.
    """

    def __init__(self, redis: Redis, handle: Handler, *, block_ms: int = 1000) -> None:
        self.redis, self._handle, self.block_ms = redis, handle, block_ms
        self.worker: str | None = None
        self.received = 0
        self._holders = 0
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def reading(self) -> bool:
        return self._task is not None and not self._task.done()

    async def hold(self, worker: str) -> None:
        async with self._lock:
            if not self.reading:
                key = CallRouter.inbox_key(worker)
                newest: Any = await self.redis.xrevrange(key, count=1)  # may raise: nothing held
                start = _text(newest[0][0]) if newest else "0-0"
                self.worker = worker
                self._holders += 1
                self._task = asyncio.create_task(self._read(key, start), name=f"acs-inbox-{worker}")
            else:
                self._holders += 1

    async def release(self) -> None:
        async with self._lock:
            self._holders = max(0, self._holders - 1)

    async def stopped(self) -> None:
        """Wait until the reading has stopped (no call held)."""
        if self._task is not None:
            await asyncio.wait({self._task})

    async def _read(self, key: str, last: str) -> None:
        pause = 0.05
        while self._holders:  # checked right after each read: no await between it and the end
            try:
                batches: Any = await self.redis.xread({key: last}, count=100, block=self.block_ms)
            except (RedisError, OSError) as exc:
                if not self._holders:
                    return
                log.warning("reading the ACS inbox %s failed (will retry): %s", key, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
                continue
            pause = 0.05
            for _, entries in batches or []:
                for entry_id, fields in entries:
                    last = _text(entry_id)
                    await self._dispatch(fields)

    async def _dispatch(self, fields: dict[Any, Any]) -> None:
        raw = fields.get(b"message", fields.get("message"))
        message = _decode_message(raw) if raw is not None else None
        if message is None:
            return
        self.received += 1
        try:
            await self._handle(message)
        except Exception:  # one bad message must not stop the inbox
            log.exception("handling a forwarded ACS message for %s failed", message.call_id)
