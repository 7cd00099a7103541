"""The realtime service's events, decoded into typed Structs at the edge.

Azure Voice Live, Azure OpenAI Realtime and the OpenAI Realtime API send the same events; the
GA release of the protocol renamed a few of them. Both spellings decode into the same Struct:

| GA | preview |
|---|---|
| ``response.output_audio.delta`` / ``.done`` | ``response.audio.delta`` / ``.done`` |
| ``response.output_audio_transcript.delta`` / ``.done`` | ``response.audio_transcript.delta`` / ``.done`` |
| ``response.output_text.delta`` / ``.done`` | ``response.text.delta`` / ``.done`` |
| ``conversation.item.added`` | ``conversation.item.created`` |

Events the session does not act on (rate limits, content parts, output audio buffer state...)
decode to ``None`` and are skipped; a message that is not JSON, or a known event whose fields
have the wrong type, raises :class:`ProtocolError` naming what is wrong.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "AudioDelta",
    "AudioDone",
    "BufferCommitted",
    "ErrorDetail",
    "FunctionCallDone",
    "OutputItemAdded",
    "ProtocolError",
    "ResponseCreated",
    "ResponseDone",
    "ServerError",
    "ServerEvent",
    "SessionCreated",
    "SessionUpdated",
    "SpeechStarted",
    "SpeechStopped",
    "TranscriptDelta",
    "TranscriptDone",
    "TranscriptionCompleted",
    "TranscriptionDelta",
    "TranscriptionFailed",
    "decode_event",
]


class ProtocolError(ValueError):
    """The service sent something that is not the realtime protocol."""


class ServerEvent(msgspec.Struct, kw_only=True):
    event_id: str = ""


class ErrorDetail(msgspec.Struct, kw_only=True):
    type: str = ""
    code: str | None = None
    message: str = ""
    param: str | None = None
    event_id: str | None = None
    """The client event that caused it, when the service says."""


class ServerError(ServerEvent, kw_only=True):
    error: ErrorDetail = msgspec.field(default_factory=ErrorDetail)


class SessionCreated(ServerEvent, kw_only=True):
    session: dict[str, Any] = msgspec.field(default_factory=dict)


class SessionUpdated(SessionCreated, kw_only=True):
    pass


class SpeechStarted(ServerEvent, kw_only=True):
    audio_start_ms: float = 0.0
    """Where the caller's speech starts on the input audio timeline."""
    item_id: str = ""


class SpeechStopped(ServerEvent, kw_only=True):
    audio_end_ms: float = 0.0
    item_id: str = ""


class BufferCommitted(ServerEvent, kw_only=True):
    item_id: str = ""
    """The user item the caller's turn became."""


class TranscriptionDelta(ServerEvent, kw_only=True):
    item_id: str = ""
    delta: str = ""


class TranscriptionCompleted(ServerEvent, kw_only=True):
    item_id: str = ""
    transcript: str = ""


class TranscriptionFailed(ServerEvent, kw_only=True):
    item_id: str = ""
    error: ErrorDetail = msgspec.field(default_factory=ErrorDetail)


class ResponseInfo(msgspec.Struct, kw_only=True):
    id: str = ""
    status: str = ""
    status_details: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None


class ResponseCreated(ServerEvent, kw_only=True):
    response: ResponseInfo = msgspec.field(default_factory=ResponseInfo)


class ResponseDone(ResponseCreated, kw_only=True):
    pass


class Item(msgspec.Struct, kw_only=True):
    id: str = ""
    type: str = ""
    name: str | None = None
    call_id: str | None = None


class OutputItemAdded(ServerEvent, kw_only=True):
    response_id: str = ""
    item: Item = msgspec.field(default_factory=Item)


class AudioDelta(ServerEvent, kw_only=True):
    response_id: str = ""
    item_id: str = ""
    delta: str = ""
    """Base64 PCM16 at the output rate."""


class AudioDone(ServerEvent, kw_only=True):
    response_id: str = ""
    item_id: str = ""


class TranscriptDelta(ServerEvent, kw_only=True):
    """What the agent is saying, as text (audio transcript, or text in a text-only response)."""

    response_id: str = ""
    item_id: str = ""
    delta: str = ""


class TranscriptDone(ServerEvent, kw_only=True):
    response_id: str = ""
    item_id: str = ""
    transcript: str = ""
    text: str = ""
    """The text-only response's spelling of the same."""


class FunctionCallDone(ServerEvent, kw_only=True):
    response_id: str = ""
    item_id: str = ""
    call_id: str = ""
    name: str = ""
    """Sent by the GA services; a preview service names the function in ``output_item.added``."""
    arguments: str = "{}"


_TYPES: dict[str, type[ServerEvent]] = {
    "error": ServerError,
    "session.created": SessionCreated,
    "session.updated": SessionUpdated,
    "input_audio_buffer.speech_started": SpeechStarted,
    "input_audio_buffer.speech_stopped": SpeechStopped,
    "input_audio_buffer.committed": BufferCommitted,
    "conversation.item.input_audio_transcription.delta": TranscriptionDelta,
    "conversation.item.input_audio_transcription.completed": TranscriptionCompleted,
    "conversation.item.input_audio_transcription.failed": TranscriptionFailed,
    "response.created": ResponseCreated,
    "response.done": ResponseDone,
    "response.output_item.added": OutputItemAdded,
    "response.output_audio.delta": AudioDelta,
    "response.audio.delta": AudioDelta,
    "response.output_audio.done": AudioDone,
    "response.audio.done": AudioDone,
    "response.output_audio_transcript.delta": TranscriptDelta,
    "response.audio_transcript.delta": TranscriptDelta,
    "response.output_text.delta": TranscriptDelta,
    "response.text.delta": TranscriptDelta,
    "response.output_audio_transcript.done": TranscriptDone,
    "response.audio_transcript.done": TranscriptDone,
    "response.output_text.done": TranscriptDone,
    "response.text.done": TranscriptDone,
    "response.function_call_arguments.done": FunctionCallDone,
}
_DECODERS = {name: msgspec.json.Decoder(kind) for name, kind in _TYPES.items()}


class _Head(msgspec.Struct):
    type: str = ""


_HEAD = msgspec.json.Decoder(_Head)


def decode_event(message: str | bytes) -> ServerEvent | None:
    """One WebSocket message as a typed event; ``None`` for an event the session ignores."""
    try:
        kind = _HEAD.decode(message).type
    except msgspec.DecodeError as error:
        raise ProtocolError(f"not a realtime event: {error}") from None
    decoder = _DECODERS.get(kind)
    if decoder is None:
        return None
    try:
        return decoder.decode(message)
    except msgspec.ValidationError as error:
        raise ProtocolError(f"{kind}: {error}") from None
