"""Session state that outlives a worker: one Redis hash per call, with a TTL.

A call's real-time path lives in one process, but what the call knows (the active agent, the
conversation so far, the form fields collected) is written to Redis after every turn, so another
worker can resume the call by its id when the first one dies. Each part of the state is a
separate hash field holding plain JSON, so a dashboard or a script in any language can read
``HGET artagent:session:<call_id> fields`` without decoding the whole conversation.

Two mechanisms keep two workers from trampling one call:

- a lease (``<key>:owner``, ``SET NX PX``): only the worker holding it drives the call; it is
  renewed while the call runs and released at the end, or simply expires when the worker dies;
- optimistic concurrency on save: every save bumps ``version`` and succeeds only if the stored
  version is still the one this state was loaded from, so a worker that lost its lease without
  noticing cannot overwrite its successor's turns.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import msgspec
from redis.asyncio import Redis

from artagent.events import utc_now

__all__ = [
    "DEFAULT_KEY_PREFIX",
    "DEFAULT_TTL_S",
    "Message",
    "Role",
    "SessionDecodeError",
    "SessionError",
    "SessionState",
    "SessionStore",
    "StaleSessionError",
]

DEFAULT_KEY_PREFIX = "artagent:session"
DEFAULT_TTL_S = 24 * 3600.0

Role = Literal["system", "user", "assistant", "tool"]
UtcDatetime = Annotated[dt.datetime, msgspec.Meta(tz=True)]


class Message(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One entry of the conversation, in the shape chat models take (plus where and who).

    Fields left at their default are not written, which keeps long histories small.
    """

    role: Role
    content: str = ""
    agent: str | None = None
    """The agent that spoke (assistant) or was spoken to (user); ``None`` before any agent."""
    name: str | None = None
    """The tool's name, for a ``tool`` message."""
    tool_call_id: str | None = None
    """Which of the assistant's tool calls a ``tool`` message answers."""
    tool_calls: list[dict[str, Any]] | None = None
    """Tool calls the assistant asked for, in the OpenAI chat format."""
    interrupted: bool = False
    """An assistant message cut short by barge-in; ``content`` keeps only what was heard."""
    at: float = 0.0
    """Seconds since the call started."""


class SessionState(msgspec.Struct, kw_only=True):
    """What one call knows. Mutable: the session engine updates it during a turn and saves it
    at the end of the turn."""

    call_id: str
    channel: str
    """The channel adapter the call came in on (``acs``, ``browser``, ``cli``, ...)."""
    scenario: str | None = None
    active_agent: str | None = None
    history: list[Message] = msgspec.field(default_factory=list)
    fields: dict[str, Any] = msgspec.field(default_factory=dict)
    """Form fields collected so far, as JSON values (name -> value)."""
    memory: dict[str, Any] = msgspec.field(default_factory=dict)
    """The agents layer's own bookkeeping (where each agent took the call, what a router was
    in the middle of asking), as JSON values."""
    turn: int = 0
    """Completed turns."""
    seq: int = 0
    """The call's last event ``seq`` as of this save; a resumed call numbers its events above it."""
    started_at: UtcDatetime = msgspec.field(default_factory=utc_now)
    updated_at: UtcDatetime = msgspec.field(default_factory=utc_now)
    """When the state was last saved (set by :meth:`SessionStore.save`)."""
    worker: str | None = None
    """The worker driving the call, as of the last save."""
    version: int = 0
    """The stored version this state was loaded from or last saved as; 0: never saved."""
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


class SessionError(Exception):
    """Base of the session store's errors."""


class StaleSessionError(SessionError):
    """Someone else saved (or deleted) the session since this state was loaded."""

    def __init__(self, call_id: str, *, expected: int, found: int | None) -> None:
        self.call_id, self.expected, self.found = call_id, expected, found
        wanted = "no stored session" if expected == 0 else f"stored version {expected}"
        seen = "none" if found is None else f"version {found}" if found >= 0 else "a non-numeric version"
        super().__init__(
            f"session {call_id!r}: cannot save version {expected + 1}, expected {wanted} but found "
            f"{seen}; another worker saved or deleted it - load it again before saving"
        )


class SessionDecodeError(SessionError, ValueError):
    """A stored field does not decode into its type."""

    def __init__(self, call_id: str, field: str, reason: str) -> None:
        self.call_id, self.field, self.reason = call_id, field, reason
        super().__init__(f"session {call_id!r}: stored field {field!r} {reason}")


_FIELD_INFO = {f.name: f for f in msgspec.structs.fields(SessionState)}
_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    name: msgspec.json.Decoder(info.type) for name, info in _FIELD_INFO.items()
}
_ENCODER = msgspec.json.Encoder()

# ARGV[1]: the stored version expected (0: no session stored); ARGV[2]: TTL in ms;
# ARGV[3..]: field, value pairs. Returns {1, found} when written, {0, found} when stale;
# found is -1 for an absent version, -2 for one that is not a number.
SAVE_LUA = """
local stored = redis.call('HGET', KEYS[1], 'version')
local found = -1
if stored then found = tonumber(stored) or -2 end
local expected = tonumber(ARGV[1])
if (expected == 0 and found ~= -1) or (expected > 0 and found ~= expected) then
  return {0, found}
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, found}
"""

# ARGV[1]: worker; ARGV[2]: lease in ms. A worker re-claiming its own lease extends it.
CLAIM_LUA = """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if owner then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

RENEW_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

RELEASE_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""


def _milliseconds(seconds: float, what: str) -> int:
    if not seconds > 0 or math.isinf(seconds):
        raise ValueError(f"{what} must be a positive number of seconds, got {seconds!r}")
    return max(1, round(seconds * 1000))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _found(found: int) -> int | None:
    """The stored version the save script saw: -1 means none."""
    return None if found == -1 else int(found)


def encode_fields(state: SessionState) -> list[bytes | str]:
    """The hash as a flat ``[field, json, field, json, ...]`` list, one field per attribute."""
    flat: list[bytes | str] = []
    for name in _FIELD_INFO:
        flat += [name, _ENCODER.encode(getattr(state, name))]
    return flat


def decode_fields(call_id: str, raw: Mapping[bytes | str, bytes | str]) -> SessionState:
    """Rebuild a state from its hash. Fields this release does not know are skipped (a newer
    release or another tool wrote them); a field that does not decode raises
    :class:`SessionDecodeError` naming it."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = _text(key)
        decoder = _DECODERS.get(name)
        if decoder is None:
            continue
        try:
            values[name] = decoder.decode(value)
        except msgspec.DecodeError as exc:
            raise SessionDecodeError(call_id, name, f"does not decode: {exc}") from None
    for name, info in _FIELD_INFO.items():
        if info.required and name not in values:
            raise SessionDecodeError(call_id, name, "is missing")
    if values["call_id"] != call_id:
        raise SessionDecodeError(call_id, "call_id", f"holds another call's id: {values['call_id']!r}")
    return SessionState(**values)


class SessionStore:
    """Sessions in Redis: ``<key_prefix>:<call_id>`` (a hash) and ``<key_prefix>:<call_id>:owner``
    (the lease). Every save refreshes the hash's TTL, so a session lives ``ttl_s`` after its
    last turn."""

    def __init__(
        self,
        redis: Redis,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.redis = redis
        self.key_prefix = key_prefix
        self.ttl_s = ttl_s
        self._ttl_ms = _milliseconds(ttl_s, "session ttl_s")
        self._clock = clock
        self._save = redis.register_script(SAVE_LUA)
        self._claim = redis.register_script(CLAIM_LUA)
        self._renew = redis.register_script(RENEW_LUA)
        self._release = redis.register_script(RELEASE_LUA)

    def key(self, call_id: str) -> str:
        if not call_id:
            raise ValueError("a session needs a non-empty call_id")
        return f"{self.key_prefix}:{call_id}"

    def owner_key(self, call_id: str) -> str:
        return f"{self.key(call_id)}:owner"

    # -- state -------------------------------------------------------------------------------

    async def save(self, state: SessionState) -> None:
        """Write the whole state and refresh its TTL in one atomic round trip.

        Succeeds only if the stored version is still ``state.version`` (no session stored, for
        a state never saved); then ``state.version`` goes up by one and ``state.updated_at`` is
        the save time. Raises :class:`StaleSessionError` otherwise, leaving ``state`` untouched.
        """
        saved = msgspec.structs.replace(state, version=state.version + 1, updated_at=self._clock())
        args = [state.version, self._ttl_ms, *encode_fields(saved)]
        written, found = await self._save(keys=[self.key(state.call_id)], args=args)
        if not written:
            raise StaleSessionError(state.call_id, expected=state.version, found=_found(found))
        state.version, state.updated_at = saved.version, saved.updated_at

    async def load(self, call_id: str) -> SessionState | None:
        """The stored state, or ``None`` if there is none (never saved, expired or deleted)."""
        raw = await self.redis.hgetall(self.key(call_id))
        return decode_fields(call_id, raw) if raw else None

    async def delete(self, call_id: str) -> bool:
        """Forget the session and its lease; ``True`` if there was a session."""
        removed = await self.redis.delete(self.key(call_id), self.owner_key(call_id))
        return bool(removed)

    async def ttl(self, call_id: str) -> float | None:
        """Seconds until the session expires; ``None`` if it is absent, ``inf`` if it never will."""
        ms = int(await self.redis.pttl(self.key(call_id)))
        if ms == -2:
            return None
        return math.inf if ms == -1 else ms / 1000

    # -- lease -------------------------------------------------------------------------------

    async def claim(self, call_id: str, worker: str, lease_s: float) -> bool:
        """Become the worker driving the call for ``lease_s`` seconds.

        ``False`` while another worker holds an unexpired lease; a worker claiming a call it
        already holds extends its lease. Resuming a call elsewhere is ``claim`` then ``load``.
        """
        ms = _milliseconds(lease_s, "lease_s")
        return bool(await self._claim(keys=[self.owner_key(call_id)], args=[worker, ms]))

    async def renew(self, call_id: str, worker: str, lease_s: float) -> bool:
        """Extend the lease to ``lease_s`` from now; ``False`` if ``worker`` no longer holds it."""
        ms = _milliseconds(lease_s, "lease_s")
        return bool(await self._renew(keys=[self.owner_key(call_id)], args=[worker, ms]))

    async def release(self, call_id: str, worker: str) -> bool:
        """Give the call up; ``False`` (and nothing done) if ``worker`` did not hold it."""
        return bool(await self._release(keys=[self.owner_key(call_id)], args=[worker]))

    async def owner(self, call_id: str) -> str | None:
        """The worker holding the lease, if any."""
        value = await self.redis.get(self.owner_key(call_id))
        return None if value is None else _text(value)
