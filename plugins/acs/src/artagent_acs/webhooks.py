"""The JSON that Event Grid and Call Automation post to us, as typed Structs.

Event Grid delivers ``Microsoft.Communication.IncomingCall`` (and first its subscription
validation) in the Event Grid schema (``eventType``) or as CloudEvents (``type``), one event or
an array. Call Automation posts its mid-call events to the callback URL as an array of
CloudEvents. Only the fields we use are declared; unknown ones are ignored, missing or
mistyped ones are a 400 naming the field.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "VALIDATION",
    "CallbackData",
    "GridEvent",
    "Identifier",
    "IncomingCall",
    "MediaStreamingUpdate",
    "decode_callbacks",
    "decode_grid",
    "typed",
]

VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
INCOMING_CALL = "Microsoft.Communication.IncomingCall"


class _Value(msgspec.Struct, frozen=True):
    value: str = ""


class _User(msgspec.Struct, frozen=True):
    id: str = ""


class Identifier(msgspec.Struct, frozen=True, rename="camel"):
    raw_id: str = ""
    kind: str = ""
    phone_number: _Value | None = None
    communication_user: _User | None = None

    @property
    def text(self) -> str:
        """An E.164 number for a phone, else the raw id."""
        if self.phone_number is not None and self.phone_number.value:
            return self.phone_number.value
        return self.raw_id


class GridEvent(msgspec.Struct, frozen=True):
    eventType: str = ""
    type: str = ""
    """The CloudEvents schema's name for it."""
    id: str = ""
    data: Any = None

    @property
    def kind(self) -> str:
        return self.eventType or self.type


class Validation(msgspec.Struct, frozen=True):
    validationCode: str
    validationUrl: str = ""


class IncomingCall(msgspec.Struct, frozen=True, rename="camel"):
    incoming_call_context: str
    to: Identifier = Identifier()
    from_: Identifier = msgspec.field(default=Identifier(), name="from")
    correlation_id: str = ""
    server_call_id: str = ""
    caller_display_name: str = ""


class ResultInformation(msgspec.Struct, frozen=True, rename="camel"):
    code: int = 0
    sub_code: int = 0
    message: str = ""


class Participant(msgspec.Struct, frozen=True, rename="camel"):
    identifier: Identifier = Identifier()
    is_muted: bool = False


class DtmfResult(msgspec.Struct, frozen=True):
    tones: list[str] = msgspec.field(default_factory=list)


class MediaStreamingUpdate(msgspec.Struct, frozen=True, rename="camel"):
    content_type: str = ""
    media_streaming_status: str = ""
    media_streaming_status_details: str = ""


class CallbackData(msgspec.Struct, frozen=True, rename="camel"):
    call_connection_id: str = ""
    server_call_id: str = ""
    correlation_id: str = ""
    operation_context: str | None = None
    result_information: ResultInformation | None = None
    participants: list[Participant] = msgspec.field(default_factory=list)
    dtmf_result: DtmfResult | None = None
    recording_id: str | None = None
    state: str | None = None
    media_streaming_update: MediaStreamingUpdate | None = None


class CallbackEvent(msgspec.Struct, frozen=True):
    type: str
    data: CallbackData = CallbackData()
    id: str = ""

    @property
    def name(self) -> str:
        """``CallConnected`` for ``Microsoft.Communication.CallConnected``."""
        return self.type.rpartition(".")[2]


_grid = msgspec.json.Decoder(list[GridEvent] | GridEvent)
_callbacks = msgspec.json.Decoder(list[CallbackEvent] | CallbackEvent)


def decode_grid(body: bytes) -> list[GridEvent]:
    """Raises ``msgspec.DecodeError`` / ``ValidationError`` naming what is wrong."""
    events = _grid.decode(body)
    return events if isinstance(events, list) else [events]


def decode_callbacks(body: bytes) -> list[CallbackEvent]:
    events = _callbacks.decode(body)
    return events if isinstance(events, list) else [events]


def typed(data: Any, kind: type[Any]) -> Any:
    """An event's ``data`` as ``kind`` (``ValidationError`` with the field path when it is not)."""
    return msgspec.convert(data, kind)


TONES = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "asterisk": "*", "pound": "#", "a": "A", "b": "B",
    "c": "C", "d": "D",
}  # fmt: skip
"""Call Automation names DTMF tones in words in ``RecognizeCompleted``."""
