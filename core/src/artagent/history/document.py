"""The call document: everything the history keeps about one call, built from its events.

One :class:`CallDocument` per call, folded from the call's events by
:func:`artagent.history.fold.fold_events` and written by the configured
:class:`~artagent.history.store.CallHistoryStore`. Every list entry keeps the ``seq`` of the
event it came from and lists stay sorted by it, so events folded late or out of order land
where they belong. Fields that summarise others (agents visited, latency, usage, counts) are
recomputed after every fold rather than accumulated, so they never drift from the lists.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

from artagent.events import TurnLatency

__all__ = [
    "CallDetail",
    "CallDocument",
    "CallLatency",
    "CallPage",
    "CallQuery",
    "CallSummary",
    "ErrorRecord",
    "Escalation",
    "Handoff",
    "Interruption",
    "LatencySummary",
    "TokenUsage",
    "ToolCallRecord",
    "TranscriptEntry",
    "epoch_micros",
    "sort_key",
]

UtcDatetime = Annotated[dt.datetime, msgspec.Meta(tz=True)]
CallStatus = Literal["in_progress", "ended"]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class _Record(msgspec.Struct, kw_only=True):
    seq: int
    """``seq`` of the event this entry came from: entries are kept sorted by it."""
    at: UtcDatetime
    """The event's ``occurred_at``."""


class TranscriptEntry(_Record, kw_only=True):
    """One final utterance: the caller's (a final transcript) or an agent's (its reply)."""

    speaker: Literal["caller", "agent"]
    text: str
    agent: str | None = None
    """The agent that spoke; for the caller, the agent spoken to (the one active then)."""
    interrupted: bool = False
    """An agent reply the caller cut short: ``text`` is only what was heard."""
    turn: int | None = None
    """The agent's turn number (agent entries)."""
    latency: TurnLatency | None = None
    """Caller speech end to first agent audio, by stage (agent entries)."""
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    language: str | None = None
    confidence: float | None = None


class ToolCallRecord(_Record, kw_only=True):
    """A tool call and, once it returned, its result (paired by ``tool_call_id``)."""

    tool_call_id: str
    tool: str
    agent: str | None = None
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)
    completed_at: UtcDatetime | None = None
    ok: bool | None = None
    """``None`` while the tool has not returned (or its completion is not folded yet)."""
    result: Any = None
    duration_ms: float | None = None


class Handoff(_Record, kw_only=True):
    from_agent: str
    to_agent: str
    reason: str = ""
    kind: str = "announced"


class Escalation(_Record, kw_only=True):
    reason: str = ""
    target: str | None = None
    agent: str | None = None


class ErrorRecord(_Record, kw_only=True):
    kind: str = ""
    message: str = ""
    stage: str = ""
    recoverable: bool = True


class Interruption(_Record, kw_only=True):
    """A barge-in: the caller spoke over the agent's reply ``turn``."""

    agent: str | None = None
    turn: int = 0
    heard_ms: float = 0.0


class LatencySummary(msgspec.Struct, kw_only=True):
    """One stage's latency over the call's turns, in milliseconds (``None`` without samples)."""

    samples: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    max_ms: float | None = None


class CallLatency(msgspec.Struct, kw_only=True):
    """Per-stage summaries of the agent turns' :class:`~artagent.events.TurnLatency`."""

    total: LatencySummary = msgspec.field(default_factory=LatencySummary)
    end_of_turn: LatencySummary = msgspec.field(default_factory=LatencySummary)
    stt: LatencySummary = msgspec.field(default_factory=LatencySummary)
    model_first_token: LatencySummary = msgspec.field(default_factory=LatencySummary)
    tts_first_audio: LatencySummary = msgspec.field(default_factory=LatencySummary)


class TokenUsage(msgspec.Struct, kw_only=True):
    """Model tokens summed over the agent turns that reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    by_model: dict[str, list[int]] = msgspec.field(default_factory=dict)
    """Model name -> ``[prompt_tokens, completion_tokens]``."""


class CallSummary(msgspec.Struct, kw_only=True):
    """A call as listed by ``GET /api/v1/calls``: the document without its lists."""

    call_id: str
    channel: str = ""
    caller: str | None = None
    callee: str | None = None
    scenario: str | None = None
    status: CallStatus = "in_progress"
    started_at: UtcDatetime
    """``call_started``'s time (or the earliest event folded, until it arrives)."""
    ended_at: UtcDatetime | None = None
    duration_ms: float | None = None
    outcome: str | None = None
    end_reason: str | None = None
    agents: list[str] = msgspec.field(default_factory=list)
    """Agents visited, in the order they first spoke or were handed the call."""
    turns: int = 0
    """Caller turns the agent answered (the greeting is not one; a reply cut short still is)."""
    last_event_at: UtcDatetime
    """The latest ``occurred_at`` folded; retention counts from it."""


class CallDocument(CallSummary, kw_only=True):
    """Everything the history knows about one call."""

    workers: list[str] = msgspec.field(default_factory=list)
    """Workers that drove the call (more than one when it was resumed elsewhere)."""
    resumed: int = 0
    """Times the call was resumed on another worker."""
    transcript: list[TranscriptEntry] = msgspec.field(default_factory=list)
    handoffs: list[Handoff] = msgspec.field(default_factory=list)
    tool_calls: list[ToolCallRecord] = msgspec.field(default_factory=list)
    escalations: list[Escalation] = msgspec.field(default_factory=list)
    errors: list[ErrorRecord] = msgspec.field(default_factory=list)
    interruptions: list[Interruption] = msgspec.field(default_factory=list)
    barge_ins: int = 0
    false_interruptions: int = 0
    latency: CallLatency = msgspec.field(default_factory=CallLatency)
    usage: TokenUsage = msgspec.field(default_factory=TokenUsage)
    events: list[dict[str, Any]] = msgspec.field(default_factory=list)
    """The call's events as published (their JSON), in ``seq`` order: every type but partial
    transcripts and the VAD's speech starts and stops, plugins' own types included. At most
    ``[history] max_events`` of them: the first half and the last half of the call's."""
    events_omitted: int = 0
    """Events folded but not kept in ``events`` (``event_count - len(events)``)."""
    transcript_omitted: int = 0
    """Oldest transcript entries dropped to fit a store's size limit (a Cosmos DB item is at most
    2 MB; only calls of thousands of turns get there). 0: the transcript is whole."""
    tool_calls_omitted: int = 0
    """Oldest tool calls dropped for the same reason."""
    event_count: int = 0
    """Distinct events folded into this document."""
    last_seq: int = 0
    """The highest ``seq`` folded."""


class CallQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which calls to list: newest first, ``limit`` at a time, after ``before`` (a cursor)."""

    since: UtcDatetime | None = None
    """Calls started at or after this time."""
    until: UtcDatetime | None = None
    """Calls started before this time."""
    outcome: str | None = None
    agent: str | None = None
    """Calls this agent took part in."""
    limit: int = 50
    before: str | None = None
    """The sort key of the last call of the previous page (see :func:`sort_key`)."""


class CallPage(msgspec.Struct, kw_only=True):
    calls: list[CallSummary]
    next_cursor: str | None = None
    """Pass it back as ``cursor`` for the next page; ``None`` on the last page."""


def epoch_micros(moment: dt.datetime) -> int:
    """Microseconds since the Unix epoch, exact (no float rounding); stores index times by it."""
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def sort_key(started_at: dt.datetime, call_id: str) -> str:
    """The order calls are listed in (newest first, sorting this key descending): start time in
    microseconds, zero-padded so that strings sort like numbers, then the call id to break ties."""
    return f"{epoch_micros(started_at):017d}|{call_id}"


class CallDetail(CallDocument, kw_only=True):
    """``GET /api/v1/calls/{call_id}``: the document, and while the call is live what its
    session state in Redis adds (the conversation saved after every turn, the active agent,
    the fields collected)."""

    live: bool = False
    """A worker holds the call's lease: it is going on now."""
    active_agent: str | None = None
    fields: dict[str, Any] = msgspec.field(default_factory=dict)
