"""The event catalogue: the JSON every consumer of the bus reads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest
from artagent.bus.outbox import Outbox
from artagent.events import (
    CORE_EVENT_TYPES,
    AgentHandoff,
    AgentResponseGenerated,
    CallEnded,
    CallStarted,
    DtmfReceived,
    DuplicateEventTypeError,
    ErrorOccurred,
    EscalationRequested,
    Event,
    EventCatalogue,
    ParticipantJoined,
    PlaybackInterrupted,
    PlaybackStarted,
    RecordingStarted,
    SpeechStarted,
    SpeechStopped,
    ToolCalled,
    ToolCompleted,
    TranscriptionReceived,
    TurnLatency,
    new_event_id,
)
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

WHEN = dt.datetime(2025, 3, 4, 5, 6, 7, 891_000, tzinfo=dt.UTC)

# One instance of every core type with every field set away from its default, so a field that
# does not survive encoding shows up as a difference.
SAMPLES: dict[type[Event], Event] = {
    CallStarted: CallStarted(
        call_id="c1", seq=1, occurred_at=WHEN, channel="acs", caller="+15550100",
        callee="+15550199", scenario="banking", worker="w-1",
    ),
    ParticipantJoined: ParticipantJoined(call_id="c1", seq=2, participant_id="p-9", role="agent"),
    SpeechStarted: SpeechStarted(call_id="c1", seq=3, offset_ms=1250.5),
    SpeechStopped: SpeechStopped(call_id="c1", seq=4, offset_ms=2400.0, duration_ms=1149.5),
    TranscriptionReceived: TranscriptionReceived(
        call_id="c1", seq=5, text="I lost my card", is_final=False, speaker="agent",
        confidence=0.87, language="en-US", start_ms=1250.0, end_ms=2400.0,
    ),
    AgentResponseGenerated: AgentResponseGenerated(
        call_id="c1", seq=6, agent="fraud", text="Let me block it.", turn=2, interrupted=True,
        latency=TurnLatency(
            end_of_turn_ms=120.0, stt_ms=80.5, model_first_token_ms=210.0,
            tts_first_audio_ms=95.25, total_ms=505.75,
        ),
    ),
    AgentHandoff: AgentHandoff(
        call_id="c1", seq=7, from_agent="auth", to_agent="fraud", reason="card lost", kind="discrete"
    ),
    ToolCalled: ToolCalled(
        call_id="c1", seq=8, tool="block_card", tool_call_id="t1", agent="fraud",
        arguments={"last4": "1234", "nested": {"n": [1, 2]}},
    ),
    ToolCompleted: ToolCompleted(
        call_id="c1", seq=9, tool="block_card", tool_call_id="t1", ok=False,
        result={"error": "not found"}, duration_ms=12.5,
    ),
    PlaybackStarted: PlaybackStarted(call_id="c1", seq=10, agent="fraud", turn=2),
    PlaybackInterrupted: PlaybackInterrupted(call_id="c1", seq=11, agent="fraud", turn=2, heard_ms=640.0),
    DtmfReceived: DtmfReceived(call_id="c1", seq=12, digits="12#"),
    EscalationRequested: EscalationRequested(
        call_id="c1", seq=13, reason="asked for a human", target="queue-7", agent="fraud"
    ),
    RecordingStarted: RecordingStarted(call_id="c1", seq=14, recording_id="rec-1"),
    ErrorOccurred: ErrorOccurred(
        call_id="c1", seq=15, kind="TimeoutError", message="tts timed out", stage="tts", recoverable=False
    ),
    CallEnded: CallEnded(call_id="c1", seq=16, reason="hangup", duration_ms=93_000.0, outcome="resolved"),
}


class FraudScoreComputed(Event, frozen=True, kw_only=True, tag="fraud_score_computed"):
    """A plugin's own event type."""

    score: float = 0.0


class ShadowsCallStarted(Event, frozen=True, kw_only=True, tag="call_started"):
    """A plugin event that (wrongly) reuses a core tag."""


def test_samples_cover_every_core_type() -> None:
    assert set(SAMPLES) == set(CORE_EVENT_TYPES)


@pytest.mark.parametrize("event_type", CORE_EVENT_TYPES, ids=lambda t: t.type_tag())
def test_core_event_round_trips(event_type: type[Event]) -> None:
    catalogue = EventCatalogue()
    event = SAMPLES[event_type]
    decoded = catalogue.decode(catalogue.encode(event))
    assert type(decoded) is event_type
    assert decoded == event
    # The same holds for an already-parsed JSON object (what a subscriber in Python sees).
    assert catalogue.convert(msgspec.json.decode(catalogue.encode(event))) == event


@pytest.mark.parametrize("event_type", CORE_EVENT_TYPES, ids=lambda t: t.type_tag())
def test_envelope_fields_are_in_the_json(event_type: type[Event]) -> None:
    event = SAMPLES[event_type]
    doc: dict[str, Any] = msgspec.json.decode(EventCatalogue().encode(event))
    assert doc["type"] == event_type.type_tag()
    assert doc["call_id"] == "c1"
    assert doc["seq"] == event.seq
    assert doc["event_id"] == event.event_id
    assert dt.datetime.fromisoformat(doc["occurred_at"]) == event.occurred_at


def test_default_envelope_is_filled_in() -> None:
    before = dt.datetime.now(dt.UTC)
    event = CallEnded(call_id="c2")
    after = dt.datetime.now(dt.UTC)
    assert event.seq == 0
    assert before <= event.occurred_at <= after
    assert event.occurred_at.tzinfo is not None
    assert CallEnded(call_id="c2").event_id != event.event_id


def test_event_ids_are_unique_and_sort_by_creation() -> None:
    ids = [new_event_id() for _ in range(5_000)]
    ids += [SpeechStarted(call_id="c").event_id for _ in range(5_000)]
    assert len(set(ids)) == len(ids)
    assert sorted(ids) == ids


def test_events_are_immutable() -> None:
    event = DtmfReceived(call_id="c", digits="1")
    with pytest.raises(AttributeError):
        event.digits = "2"  # type: ignore[misc]


def test_plugin_event_type_is_decoded_once_registered() -> None:
    catalogue = EventCatalogue()
    payload = b'{"type":"fraud_score_computed","call_id":"c","score":0.9}'
    with pytest.raises(msgspec.ValidationError, match="fraud_score_computed"):
        catalogue.decode(payload)
    catalogue.register(FraudScoreComputed, owner="fraud")
    event = catalogue.decode(payload)
    assert isinstance(event, FraudScoreComputed)
    assert event.score == 0.9
    assert "fraud_score_computed" in catalogue
    assert catalogue.owner("fraud_score_computed") == "fraud"
    assert len(catalogue) == len(CORE_EVENT_TYPES) + 1


def test_duplicate_tag_names_both_owners() -> None:
    catalogue = EventCatalogue()
    with pytest.raises(DuplicateEventTypeError) as info:
        catalogue.register(ShadowsCallStarted, owner="shadow-plugin")
    message = str(info.value)
    assert "call_started" in message
    assert "shadow-plugin" in message
    assert "artagent" in message
    # The core type still decodes as itself.
    assert type(catalogue.decode(b'{"type":"call_started","call_id":"c"}')) is CallStarted


def test_duplicate_tag_between_two_plugins_names_both() -> None:
    class Other(Event, frozen=True, kw_only=True, tag="fraud_score_computed"):
        pass

    catalogue = EventCatalogue()
    catalogue.register(FraudScoreComputed, owner="fraud")
    with pytest.raises(DuplicateEventTypeError, match=r"'fraud_score_computed' from risk .* by fraud"):
        catalogue.register(Other, owner="risk")


def test_registering_the_same_type_twice_is_harmless() -> None:
    catalogue = EventCatalogue()
    catalogue.register(FraudScoreComputed, owner="fraud")
    catalogue.register(FraudScoreComputed, owner="fraud")
    assert catalogue.tags().count("fraud_score_computed") == 1


@pytest.mark.parametrize("not_an_event", [dict, TurnLatency, CallStarted(call_id="c"), "call_started"])
def test_registering_a_non_event_raises(not_an_event: Any) -> None:
    catalogue = EventCatalogue()
    with pytest.raises(TypeError, match="bad-plugin"):
        catalogue.register(not_an_event, owner="bad-plugin")
    assert len(catalogue) == len(CORE_EVENT_TYPES)


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        (b'{"type":"agent_response_generated","call_id":"c","latency":{"total_ms":"slow"}}',
         "$.latency.total_ms"),
        (b'{"type":"tool_called","call_id":"c","arguments":[1]}', "$.arguments"),
        (b'{"type":"speech_started","call_id":"c","seq":"one"}', "$.seq"),
        (b'{"type":"agent_handoff","call_id":"c","kind":"loud"}', "$.kind"),
        (b'{"type":"no_such_event","call_id":"c"}', "$.type"),
    ],
)
def test_decode_errors_name_the_field_path(payload: bytes, path: str) -> None:
    with pytest.raises(msgspec.ValidationError) as info:
        EventCatalogue().decode(payload)
    assert f"`{path}`" in str(info.value)


@pytest.mark.parametrize(
    ("payload", "field"),
    [(b'{"type":"call_started"}', "call_id"), (b'{"call_id":"c"}', "type")],
)
def test_decode_errors_name_a_missing_field(payload: bytes, field: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=f"missing required field `{field}`"):
        EventCatalogue().decode(payload)


def test_malformed_json_is_a_decode_error() -> None:
    with pytest.raises(msgspec.DecodeError):
        EventCatalogue().decode(b"{not json")


def test_json_schema_defines_every_registered_type() -> None:
    catalogue = EventCatalogue()
    catalogue.register(FraudScoreComputed, owner="fraud")
    schema = catalogue.json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    defs = schema["$defs"]
    for event_type in catalogue:
        definition = defs[event_type.__name__]
        tag_property = definition["properties"]["type"]
        assert tag_property.get("enum", [tag_property.get("const")]) == [event_type.type_tag()]
        assert "call_id" in definition["required"]
    mapping = schema["discriminator"]["mapping"]
    assert set(mapping) == set(catalogue.tags())
    assert mapping["fraud_score_computed"] == "#/$defs/FraudScoreComputed"


def test_call_emitter_stamps_increasing_seq_per_call(tmp_path: Path) -> None:
    # publish() only queues: the Redis client is never reached.
    redis = Redis.from_url("redis://127.0.0.1:1")
    outbox = Outbox(
        redis, EventCatalogue(), stream="s", spill_path=tmp_path / "spill.sqlite3",
        registry=CollectorRegistry(),
    )
    first, second = outbox.for_call("call-a"), outbox.for_call("call-b")
    emitted = [
        first.emit(CallStarted, channel="browser"),
        first.emit(SpeechStarted, offset_ms=10.0),
        second.emit(CallStarted, channel="acs"),
        first.emit(SpeechStopped, offset_ms=900.0, duration_ms=890.0),
        second.emit(CallEnded, reason="hangup"),
    ]
    by_call: dict[str, list[int]] = {}
    for event in emitted:
        by_call.setdefault(event.call_id, []).append(event.seq)
    assert by_call == {"call-a": [1, 2, 3], "call-b": [1, 2]}
    assert isinstance(emitted[1], SpeechStarted)
    assert emitted[1].offset_ms == 10.0
    assert outbox.depth == len(emitted)
