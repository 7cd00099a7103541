"""The ACS media streaming wire: JSON text frames, one object each, tagged by ``kind``.

Inbound (ACS to us): ``AudioMetadata`` (first), ``AudioData`` (base64 PCM16LE, 20 ms;
``silent`` may be absent, meaning not silent; ``participantRawID`` keys unmixed audio) and
``DtmfData`` (the digit in ``data``, or ``tone`` in some releases). Outbound: ``AudioData`` and
``StopAudio``. For simulated calls only, the server also sends ``ArtAgentEvent`` messages (the
call's events) and the simulator may send ``Hangup``.

This is the per-frame path: one msgspec decode per message (msgspec turns the base64 string
into ``bytes`` itself), one stdlib base64 encode and a byte concatenation per frame sent.
"""

from __future__ import annotations

import base64

import msgspec

__all__ = [
    "STOP_AUDIO",
    "AudioData",
    "AudioDataMessage",
    "AudioMetadata",
    "AudioMetadataMessage",
    "DtmfData",
    "DtmfDataMessage",
    "HangupMessage",
    "InboundMessage",
    "MediaDecodeError",
    "decode_inbound",
    "encode_audio",
    "encode_event",
]


class AudioMetadata(msgspec.Struct, frozen=True, rename="camel"):
    subscription_id: str = ""
    encoding: str = "PCM"
    sample_rate: int = 16000
    channels: int = 1
    length: int = 640


class AudioData(msgspec.Struct, frozen=True):
    data: bytes = b""
    """Empty (or absent) with ``silent``: a frame of silence."""
    timestamp: str | None = None
    participantRawID: str | None = None
    silent: bool = False


class DtmfData(msgspec.Struct, frozen=True):
    data: str | None = None
    tone: str | None = None
    participantRawID: str | None = None

    @property
    def digit(self) -> str:
        return (self.data or self.tone or "").strip()


class AudioMetadataMessage(msgspec.Struct, frozen=True, tag_field="kind", tag="AudioMetadata"):
    audioMetadata: AudioMetadata = AudioMetadata()


class AudioDataMessage(msgspec.Struct, frozen=True, tag_field="kind", tag="AudioData"):
    audioData: AudioData


class DtmfDataMessage(msgspec.Struct, frozen=True, tag_field="kind", tag="DtmfData"):
    dtmfData: DtmfData


class HangupMessage(msgspec.Struct, frozen=True, tag_field="kind", tag="Hangup"):
    """Sent by ``artagent call`` only: the simulated caller puts the phone down."""


InboundMessage = AudioDataMessage | AudioMetadataMessage | DtmfDataMessage | HangupMessage
_decoder = msgspec.json.Decoder(InboundMessage)


class _Kind(msgspec.Struct):
    kind: str


_kind_decoder = msgspec.json.Decoder(_Kind)


class MediaDecodeError(ValueError):
    """A message that is not one of ours: ``reason`` is ``malformed`` or ``unknown_kind``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def decode_inbound(data: str | bytes) -> InboundMessage:
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        try:
            kind = _kind_decoder.decode(data).kind
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise MediaDecodeError("malformed", str(exc)) from None
        known = kind in {"AudioData", "AudioMetadata", "DtmfData", "Hangup"}
        raise MediaDecodeError("malformed" if known else "unknown_kind", str(exc)) from None


_AUDIO_HEAD = '{"kind":"AudioData","audioData":{"data":"'
_AUDIO_TAIL = '"}}'
STOP_AUDIO = '{"kind":"StopAudio","audioData":null,"stopAudio":{}}'


def encode_audio(pcm: bytes) -> str:
    """One outbound ``AudioData`` message."""
    return _AUDIO_HEAD + base64.b64encode(pcm).decode("ascii") + _AUDIO_TAIL


def encode_event(event_json: bytes) -> str:
    """One ``ArtAgentEvent`` message (simulated calls): the event's JSON as it is on the bus."""
    return '{"kind":"ArtAgentEvent","event":' + event_json.decode() + "}"
