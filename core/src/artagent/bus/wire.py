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


def entry_fields(event_type: str, call_id: str, event_id: str, payload: bytes) -> dict[str, bytes | str]:
    """The fields of the stream entry for one encoded event."""
    return {
        "v": WIRE_VERSION,
        "type": event_type,
        "call_id": call_id,
        "event_id": event_id,
        EVENT_FIELD: payload,
    }


def entry_payload(fields: Mapping[bytes, bytes]) -> bytes | None:
    """The event JSON of a raw entry as redis-py returns it, or ``None`` if it is not ours."""
    return fields.get(EVENT_FIELD.encode())
