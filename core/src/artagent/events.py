"""Typed events: everything that happens in a call, as it travels on the bus.

Every event is a frozen msgspec Struct tagged by its ``type`` field. The core catalogue below
is extended (never renamed) by plugins through an :class:`EventCatalogue` built per runtime;
one decoder decodes the union of every registered type.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal, Union

import msgspec
from uuid_utils import uuid7

__all__ = [
    "CORE_EVENT_TYPES",
    "AgentHandoff",
    "AgentResponseGenerated",
    "CallEnded",
    "CallStarted",
    "DtmfReceived",
    "DuplicateEventTypeError",
    "ErrorOccurred",
    "EscalationRequested",
    "Event",
    "EventCatalogue",
    "ParticipantJoined",
    "PlaybackInterrupted",
    "PlaybackStarted",
    "RecordingStarted",
    "SpeechStarted",
    "SpeechStopped",
    "ToolCalled",
    "ToolCompleted",
    "TranscriptionReceived",
    "TurnLatency",
    "new_event_id",
    "utc_now",
]


def new_event_id() -> str:
    """A unique, time-ordered id (UUIDv7): sorting ids sorts events by creation time."""
    return str(uuid7())


def utc_now() -> dt.datetime:
    """Wall-clock time for ``occurred_at``; latencies use the monotonic clock instead."""
    return dt.datetime.now(dt.UTC)


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every event. Subclasses set ``tag=`` explicitly and only add fields with defaults
    once they have shipped, so old consumers keep decoding new events."""

    call_id: str
    """The call this event belongs to."""
    seq: int = 0
    """Position of the event within its call, increasing from 1 (0: not part of a call sequence)."""
    event_id: str = msgspec.field(default_factory=new_event_id)
    """Unique and time-ordered; consumers deduplicate on it."""
    occurred_at: Annotated[dt.datetime, msgspec.Meta(tz=True)] = msgspec.field(default_factory=utc_now)
    """When it happened, with its UTC offset (the runtime always writes UTC)."""
    traceparent: str | None = None
    """W3C Trace Context ``traceparent`` of the span the event was emitted in (a traced call);
    a subscriber continues the call's trace from it. ``None`` when the call is not traced."""

    @classmethod
    def type_tag(cls) -> str:
        tag = cls.__struct_config__.tag
        if not isinstance(tag, str):
            raise TypeError(f"{cls.__qualname__} has no string tag")
        return tag


class TurnLatency(msgspec.Struct, frozen=True, kw_only=True):
    """Per-turn latency breakdown in milliseconds, measured on the monotonic clock at the wire.

    ``total_ms`` runs from the moment the caller stopped speaking to the moment the first agent
    audio frame left for the caller. A stage that did not happen is ``None``.
    """

    end_of_turn_ms: float | None = None
    stt_ms: float | None = None
    model_first_token_ms: float | None = None
    tts_first_audio_ms: float | None = None
    total_ms: float | None = None


class CallStarted(Event, frozen=True, kw_only=True, tag="call_started"):
    channel: str = ""
    caller: str | None = None
    callee: str | None = None
    scenario: str | None = None
    worker: str | None = None
    resumed: bool = False
    """The call goes on from a saved state (its first worker went away)."""


class ParticipantJoined(Event, frozen=True, kw_only=True, tag="participant_joined"):
    participant_id: str = ""
    role: str = "caller"


class SpeechStarted(Event, frozen=True, kw_only=True, tag="speech_started"):
    offset_ms: float = 0.0
    """Milliseconds since the call started, on the call's audio timeline."""


class SpeechStopped(Event, frozen=True, kw_only=True, tag="speech_stopped"):
    offset_ms: float = 0.0
    duration_ms: float = 0.0


class TranscriptionReceived(Event, frozen=True, kw_only=True, tag="transcription_received"):
    text: str = ""
    is_final: bool = True
    speaker: str = "caller"
    source: str = "speech"
    """How the words came: ``speech`` (recognised), ``text`` (typed) or ``dtmf`` (keyed in)."""
    confidence: float | None = None
    language: str | None = None
    start_ms: float | None = None
    end_ms: float | None = None


class AgentResponseGenerated(Event, frozen=True, kw_only=True, tag="agent_response_generated"):
    agent: str = ""
    text: str = ""
    turn: int = 0
    latency: TurnLatency | None = None
    interrupted: bool = False
    model: str | None = None
    """The model or deployment that answered (the last one, when tools made several requests)."""
    prompt_tokens: int | None = None
    """Tokens sent, summed over the turn's model requests; None when the router reports none."""
    completion_tokens: int | None = None


class AgentHandoff(Event, frozen=True, kw_only=True, tag="agent_handoff"):
    from_agent: str = ""
    to_agent: str = ""
    reason: str = ""
    kind: Literal["announced", "discrete"] = "announced"


class ToolCalled(Event, frozen=True, kw_only=True, tag="tool_called"):
    tool: str = ""
    tool_call_id: str = ""
    agent: str = ""
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)


class ToolCompleted(Event, frozen=True, kw_only=True, tag="tool_completed"):
    tool: str = ""
    tool_call_id: str = ""
    ok: bool = True
    result: Any = None
    duration_ms: float = 0.0


class PlaybackStarted(Event, frozen=True, kw_only=True, tag="playback_started"):
    agent: str = ""
    turn: int = 0


class PlaybackInterrupted(Event, frozen=True, kw_only=True, tag="playback_interrupted"):
    agent: str = ""
    turn: int = 0
    heard_ms: float = 0.0
    """How much of the agent's audio the caller heard before interrupting."""


class DtmfReceived(Event, frozen=True, kw_only=True, tag="dtmf_received"):
    digits: str = ""


class EscalationRequested(Event, frozen=True, kw_only=True, tag="escalation_requested"):
    reason: str = ""
    target: str | None = None
    agent: str = ""


class RecordingStarted(Event, frozen=True, kw_only=True, tag="recording_started"):
    recording_id: str = ""


class ErrorOccurred(Event, frozen=True, kw_only=True, tag="error_occurred"):
    kind: str = ""
    message: str = ""
    stage: str = ""
    recoverable: bool = True


class CallEnded(Event, frozen=True, kw_only=True, tag="call_ended"):
    reason: str = ""
    duration_ms: float = 0.0
    outcome: str = ""
    turns: int = 0
    barge_ins: int = 0
    """Times the caller's words stopped the agent."""
    false_interruptions: int = 0
    """Caller sounds over the agent that yielded no words (a cough, a click, background noise)."""


CORE_EVENT_TYPES: tuple[type[Event], ...] = (
    CallStarted,
    ParticipantJoined,
    SpeechStarted,
    SpeechStopped,
    TranscriptionReceived,
    AgentResponseGenerated,
    AgentHandoff,
    ToolCalled,
    ToolCompleted,
    PlaybackStarted,
    PlaybackInterrupted,
    DtmfReceived,
    EscalationRequested,
    RecordingStarted,
    ErrorOccurred,
    CallEnded,
)


class DuplicateEventTypeError(ValueError):
    """Two event types claim the same ``type`` tag."""


class EventCatalogue:
    """The event types known to one runtime, and the single decoder for their union.

    Built at start-up: the core types first, then whatever plugins register. Registering after
    the first decode rebuilds the decoder, so it is cheap to read and rare to write.
    """

    def __init__(self, types: Iterable[type[Event]] = CORE_EVENT_TYPES) -> None:
        self._types: dict[str, type[Event]] = {}
        self._owners: dict[str, str] = {}
        self._decoder: msgspec.json.Decoder[Any] | None = None
        self._encoder = msgspec.json.Encoder()
        for event_type in types:
            self.register(event_type, owner="artagent")

    def register(self, event_type: type[Event], *, owner: str) -> None:
        """Add a type; ``owner`` names who registered it, for the duplicate error."""
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(f"{owner}: {event_type!r} is not a subclass of artagent.events.Event")
        tag = event_type.type_tag()
        if event_type is Event or tag == event_type.__name__:
            raise TypeError(
                f"{owner}: {event_type.__qualname__} needs an explicit snake_case tag, "
                "e.g. class PolicyLookedUp(Event, frozen=True, kw_only=True, tag='policy_looked_up')"
            )
        existing = self._types.get(tag)
        if existing is not None and existing is not event_type:
            raise DuplicateEventTypeError(
                f"event type {tag!r} from {owner} is already registered by {self._owners[tag]}"
            )
        self._types[tag] = event_type
        self._owners[tag] = owner
        self._decoder = None

    def __contains__(self, tag: object) -> bool:
        return tag in self._types

    def __iter__(self) -> Iterator[type[Event]]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    def tags(self) -> list[str]:
        return list(self._types)

    def owner(self, tag: str) -> str:
        return self._owners[tag]

    @property
    def union(self) -> Any:
        """The tagged union of every registered type, for msgspec decoding and schemas."""
        return Union[tuple(self._types.values())]  # noqa: UP007 - a runtime-built union

    def encode(self, event: Event) -> bytes:
        return self._encoder.encode(event)

    def decode(self, data: bytes | str) -> Event:
        """Decode one event; raises ``msgspec.ValidationError`` naming the bad field."""
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = msgspec.json.Decoder(self.union)
        event: Event = decoder.decode(data)
        return event

    def convert(self, obj: Any) -> Event:
        """Validate an already-parsed JSON object (a dict) into its event type."""
        event: Event = msgspec.convert(obj, self.union)
        return event

    def json_schema(self) -> dict[str, Any]:
        """A JSON Schema (2020-12) of every registered event, with one definition per type."""
        schema: dict[str, Any] = _clean_descriptions(msgspec.json.schema(self.union))
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = "ARTAgent events"
        return schema


def _clean_descriptions(node: Any) -> Any:
    """Docstring descriptions with their indentation removed: msgspec releases differ on whether
    they clean docstrings themselves, and the exported schema must not depend on which is installed."""
    if isinstance(node, dict):
        return {
            key: inspect.cleandoc(value) if key == "description" and isinstance(value, str)
            else _clean_descriptions(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_clean_descriptions(item) for item in node]
    return node
