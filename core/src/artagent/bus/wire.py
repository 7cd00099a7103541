"""The bus wire format: one Redis Stream entry per event, plain JSON any client can read.

Entry fields (all UTF-8 strings):

- ``v``: wire format version, ``"1"``.
- ``type``, ``call_id``, ``event_id``: copied from the event, so readers can filter without
  parsing JSON.
- ``event``: the whole event as a JSON object (its ``type`` tag included).

docs/events.md documents this for readers in other languages.
"""

from __future__ import annotations

from collections.abc import Mapping

WIRE_VERSION = "1"
EVENT_FIELD = "event"


def entry_payload(fields: Mapping[bytes, bytes]) -> bytes | None:
    """The event JSON of a raw entry as redis-py returns it, or ``None`` if it is not ours."""
    return fields.get(EVENT_FIELD.encode())


XADD_BATCH_LUA = """
-- KEYS[1]: the stream; ARGV: maxlen, wire version, then (type, call_id, event_id, event) per entry
local n = 0
for i = 3, #ARGV, 4 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'v', ARGV[2], 'type', ARGV[i],
             'call_id', ARGV[i + 1], 'event_id', ARGV[i + 2], 'event', ARGV[i + 3])
  n = n + 1
end
return n
"""
"""Writes a batch of entries, with the fields listed above in that order, in one round trip."""
