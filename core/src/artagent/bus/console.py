"""``artagent events tail`` and ``artagent events publish``: the bus from a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO, Any

import msgspec
from redis.exceptions import RedisError

from artagent.bus.outbox import Outbox
from artagent.bus.redis import EmbeddedRedis, client_for
from artagent.bus.wire import entry_payload
from artagent.config import LoadedConfig
from artagent.events import Event, EventCatalogue
from artagent.plugins import PluginHost

__all__ = ["publish", "tail"]


class BusUnavailableError(RuntimeError):
    pass


def _catalogue(loaded: LoadedConfig) -> EventCatalogue:
    """The core events plus every installed plugin's, so plugin events validate too."""
    cfg = loaded.config.runtime
    host = PluginHost(disabled=cfg.disable_plugins, strict=cfg.strict_plugins)
    host.load_entry_points()
    catalogue = EventCatalogue()
    for owner, event_type in host.event_types(catalogue):
        catalogue.register(event_type, owner=owner)
    return catalogue


def _check_embedded(loaded: LoadedConfig) -> None:
    if loaded.config.bus.redis_url == "embedded" and not EmbeddedRedis(loaded.data_dir).is_alive():
        raise BusUnavailableError(
            f"no embedded Redis is running under {loaded.data_dir}: start `artagent serve` "
            "with the same runtime.toml first, or set [bus] redis_url"
        )


def summary(event: Event) -> str:
    """One human-readable line for an event."""
    fields = {
        k: v
        for k, v in msgspec.structs.asdict(event).items()
        if k not in ("call_id", "seq", "event_id", "occurred_at") and v not in (None, "", {}, [])
    }
    detail = " ".join(f"{k}={v!r}" for k, v in fields.items())
    return (
        f"{event.occurred_at:%H:%M:%S.%f}"[:-3]
        + f"  {event.call_id}#{event.seq}  {event.type_tag()}  {detail}"
    )


async def tail(loaded: LoadedConfig, *, types: Iterable[str] | None, call: str | None, as_json: bool) -> None:
    """Follow the stream from now on (no consumer group: nothing is acknowledged)."""
    _check_embedded(loaded)
    catalogue = _catalogue(loaded)
    wanted = set(types or ())
    stream = loaded.config.bus.stream
    redis = client_for(loaded)
    last: Any = await redis.xrevrange(stream, count=1)
    last_id: Any = last[0][0] if last else "0-0"
    print(f"following {stream} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        while True:
            reply: Any = await redis.xread({stream: last_id}, block=1000, count=500)
            for _, entries in reply or ():
                for entry_id, fields in entries:
                    last_id = entry_id
                    payload = entry_payload(fields)
                    if payload is None:
                        continue
                    try:
                        event = catalogue.decode(payload)
                    except msgspec.MsgspecError:
                        event = None
                    tag = event.type_tag() if event else "?"
                    if (wanted and tag not in wanted) or (call and (event is None or event.call_id != call)):
                        continue
                    line = payload.decode() if as_json or event is None else summary(event)
                    print(line, flush=True)
    finally:
        await redis.aclose()


def read_events(lines: IO[str], catalogue: EventCatalogue) -> tuple[list[Event], list[str]]:
    """Decode JSON Lines (blank lines skipped); returns the events and the errors by line."""
    events: list[Event] = []
    errors: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(catalogue.decode(line))
        except msgspec.MsgspecError as exc:
            errors.append(f"line {number}: {exc}")
    return events, errors


async def publish(loaded: LoadedConfig, lines: IO[str]) -> int:
    """Validate every line first; publish all of them only if all are valid."""
    catalogue = _catalogue(loaded)
    events, errors = read_events(lines, catalogue)
    if errors:
        for error in errors:
            print(error, file=sys.stderr)
        print(f"nothing published: {len(errors)} invalid event(s)", file=sys.stderr)
        return 1
    try:
        _check_embedded(loaded)
        redis = client_for(loaded)
        await redis.ping()
    except (BusUnavailableError, RedisError, OSError) as exc:
        print(f"cannot reach the bus: {exc}", file=sys.stderr)
        return 1
    cfg = loaded.config.bus
    spill = loaded.data_dir / "outbox-cli.sqlite3"
    outbox = Outbox(redis, catalogue, stream=cfg.stream, maxlen=cfg.stream_maxlen,
                    spill_path=spill, batch_size=cfg.outbox.batch_size)  # fmt: skip
    await outbox.start()
    for event in events:
        outbox.publish(event)
    done = await outbox.flush(timeout=30)
    await outbox.close()
    await redis.aclose()
    if not done:
        print(f"Redis went away: unpublished events kept in {outbox.spill.path}", file=sys.stderr)
        return 1
    print(f"published {len(events)} event(s) to {cfg.stream}", file=sys.stderr)
    return 0
