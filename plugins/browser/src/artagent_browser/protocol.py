"""The conversation WebSocket's wire format (docs/browser.md is its reference).

Up (page to server): binary messages are caller audio, PCM16 little-endian mono at 16 kHz (any
whole number of samples; the page sends 20 ms, 640 bytes); text messages are JSON control
messages, :data:`ClientMessage`. Down: binary messages are agent audio in the same format,
20 ms each, paced at real time; text messages are JSON: ``ready``, ``event`` (every event of
the call, as published on the bus), ``stop`` (barge-in: drop all queued audio now) and
``ended``. Bad input closes the connection with one of the codes below and a reason.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "CLOSE_INTERNAL",
    "CLOSE_INVALID",
    "CLOSE_NORMAL",
    "CLOSE_POLICY",
    "CLOSE_TOO_BIG",
    "CLOSE_TRY_LATER",
    "FRAME_BYTES",
    "FRAME_MS",
    "SAMPLE_RATE",
    "ClientMessage",
    "Hangup",
    "ProtocolError",
    "TypedText",
    "close_reason",
    "decode_client",
    "ended",
    "event_message",
    "ready",
    "stop",
]

SAMPLE_RATE = 16_000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2

CLOSE_NORMAL = 1000
"""The call ended (the ``ended`` message says why)."""
CLOSE_INVALID = 1007
"""A message that is not what the protocol allows: odd-length audio, bad JSON, unknown type."""
CLOSE_POLICY = 1008
"""No valid session token, or too many messages per second, or a page that stopped reading."""
CLOSE_TOO_BIG = 1009
"""A message larger than ``limits.max_message_bytes``."""
CLOSE_INTERNAL = 1011
"""The call could not run here (a speech provider is missing, the call failed)."""
CLOSE_TRY_LATER = 1013
"""The worker is shutting down or another worker holds the call: try again."""


class ProtocolError(Exception):
    """The peer broke the protocol: close with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


class TypedText(msgspec.Struct, frozen=True, tag="text", tag_field="type", forbid_unknown_fields=True):
    """The caller typed a turn instead of speaking it; it interrupts a speaking agent."""

    text: str


class Hangup(msgspec.Struct, frozen=True, tag="hangup", tag_field="type", forbid_unknown_fields=True):
    """The caller is done: the call ends (``caller_hangup``) and ``ended`` follows."""


ClientMessage = TypedText | Hangup


_DECODER = msgspec.json.Decoder(ClientMessage)


def decode_client(data: str, *, max_text_chars: int) -> ClientMessage:
    """One JSON control message; :class:`ProtocolError` (1007) naming the bad field."""
    try:
        message = _DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise ProtocolError(CLOSE_INVALID, f"invalid control message: {exc}") from None
    if isinstance(message, TypedText) and len(message.text) > max_text_chars:
        raise ProtocolError(CLOSE_INVALID, f"text: at most {max_text_chars} characters")
    return message


def close_reason(reason: str) -> str:
    """A close reason fits in 123 bytes of UTF-8 (RFC 6455); longer ones are cut."""
    encoded = reason.encode()
    if len(encoded) <= 123:
        return reason
    return encoded[:120].decode(errors="ignore") + "..."


def ready(call_id: str, scenario: str | None) -> str:
    return msgspec.json.encode(
        {"type": "ready", "call_id": call_id, "scenario": scenario, "sample_rate": SAMPLE_RATE,
         "frame_ms": FRAME_MS}
    ).decode()  # fmt: skip


def event_message(encoded_event: bytes) -> str:
    """``{"type": "event", "event": <the event's bus JSON>}``."""
    return '{"type":"event","event":' + encoded_event.decode() + "}"


def stop() -> str:
    return '{"type":"stop"}'


def ended(reason: str) -> str:
    return msgspec.json.encode({"type": "ended", "reason": reason}).decode()
