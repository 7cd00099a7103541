"""Folding a call's events into its :class:`~artagent.history.document.CallDocument`.

Pure functions, shared by every store: a store loads the document and the event ids it has
already folded, calls :func:`fold_events` with the events it has not, and writes the result and
the new ids together. Folding is order-tolerant: entries are inserted at their ``seq``, the
latest ``call_ended`` wins, and everything derived (agents visited, the agent a caller spoke
to, latency, usage, counts) is recomputed from the lists afterwards.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Callable, Container, Iterable, Sequence
from typing import Any, Literal, TypeVar

import msgspec

from artagent.events import (
    AgentHandoff,
    AgentResponseGenerated,
    CallEnded,
    CallStarted,
    ErrorOccurred,
    EscalationRequested,
    Event,
    PlaybackInterrupted,
    ToolCalled,
    ToolCompleted,
    TranscriptionReceived,
)
from artagent.history.document import (
    CallDocument,
    CallLatency,
    ErrorRecord,
    Escalation,
    Handoff,
    Interruption,
    LatencySummary,
    TokenUsage,
    ToolCallRecord,
    TranscriptEntry,
)

__all__ = ["HISTORY_EVENT_TYPES", "derive_fields", "fold_events", "summarise_latency"]

HISTORY_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "call_started",
        "transcription_received",
        "agent_response_generated",
        "agent_handoff",
        "tool_called",
        "tool_completed",
        "playback_interrupted",
        "escalation_requested",
        "error_occurred",
        "call_ended",
    }
)
"""The event types the history folds; the subscriber asks the bus for these only."""

R = TypeVar("R", bound=Any)


def fold_events(
    doc: CallDocument | None,
    call_id: str,
    events: Iterable[Event],
    seen: Container[str] = (),
    *,
    max_events: int | None = None,
) -> tuple[CallDocument | None, list[str]]:
    """Fold the events of ``call_id`` not in ``seen`` (event ids already folded) into ``doc``.

    Returns the new document (``doc`` itself, updated; a new one when ``doc`` is ``None``) and
    the ids folded now, each once, for the store to record with it. When nothing new is
    folded the document comes back unchanged and the list is empty. Partial transcripts and
    types the history does not keep are skipped (and not recorded). ``max_events`` bounds the
    raw ``events`` list (the first and last halves are kept; ``None``: no bound), so a long
    call's document stays small; the typed lists (transcript, tool calls, ...) keep everything.
    """
    fresh: dict[str, Event] = {}
    for event in events:
        if event.call_id != call_id:
            raise ValueError(f"event {event.event_id} belongs to call {event.call_id!r}, not {call_id!r}")
        if event.event_id not in seen and _kept(event):
            fresh.setdefault(event.event_id, event)
    if not fresh:
        return doc, []
    ordered = sorted(fresh.values(), key=lambda e: e.seq)
    if doc is None:
        first = ordered[0]
        doc = CallDocument(call_id=call_id, started_at=first.occurred_at, last_event_at=first.occurred_at)
    for event in ordered:
        _apply(doc, event)
        record = msgspec.to_builtins(event)
        bisect.insort_right(doc.events, record, key=lambda r: int(r.get("seq", 0)))
    if max_events is not None and len(doc.events) > max_events:
        # Keep the call's opening and its end; what is dropped is never in the final head or
        # tail however late events arrive, so the result does not depend on the fold order.
        head = max_events // 2
        del doc.events[head : len(doc.events) - (max_events - head)]
    doc.event_count += len(ordered)
    derive_fields(doc)
    return doc, list(fresh)


_NOT_KEPT = frozenset({"speech_started", "speech_stopped"})
"""Many per call and told by the transcript already."""


def _kept(event: Event) -> bool:
    if isinstance(event, TranscriptionReceived):
        return event.is_final and bool(event.text.strip())
    return event.type_tag() not in _NOT_KEPT


def _insert(items: list[R], item: R) -> None:
    """Insert keeping ``items`` sorted by ``seq`` (after equal ones: arrival order breaks ties)."""
    bisect.insort_right(items, item, key=lambda r: r.seq)


def _apply(doc: CallDocument, e: Event) -> None:
    doc.last_event_at = max(doc.last_event_at, e.occurred_at)
    doc.last_seq = max(doc.last_seq, e.seq)
    doc.started_at = min(doc.started_at, e.occurred_at)  # call_started's, once it is folded
    handler = _HANDLERS.get(type(e))
    if handler is not None:
        handler(doc, e)


def _call_started(doc: CallDocument, e: CallStarted) -> None:
    doc.resumed += 1 if e.resumed else 0
    doc.channel = doc.channel or e.channel
    doc.caller = doc.caller or e.caller
    doc.callee = doc.callee or e.callee
    doc.scenario = doc.scenario or e.scenario
    if e.worker and e.worker not in doc.workers:
        doc.workers.append(e.worker)


def _transcription(doc: CallDocument, e: TranscriptionReceived) -> None:
    speaker: Literal["caller", "agent"] = "agent" if e.speaker == "agent" else "caller"
    entry = TranscriptEntry(
        seq=e.seq, at=e.occurred_at, speaker=speaker, text=e.text.strip(),
        language=e.language, confidence=e.confidence,
    )  # fmt: skip
    _insert(doc.transcript, entry)


def _response(doc: CallDocument, e: AgentResponseGenerated) -> None:
    if not e.text.strip():
        return  # an interrupted reply the caller heard nothing of
    entry = TranscriptEntry(
        seq=e.seq, at=e.occurred_at, speaker="agent", text=e.text, agent=e.agent or None,
        interrupted=e.interrupted, turn=e.turn, latency=e.latency, model=e.model,
        prompt_tokens=e.prompt_tokens, completion_tokens=e.completion_tokens,
    )  # fmt: skip
    _insert(doc.transcript, entry)


def _handoff(doc: CallDocument, e: AgentHandoff) -> None:
    item = Handoff(
        seq=e.seq,
        at=e.occurred_at,
        from_agent=e.from_agent,
        to_agent=e.to_agent,
        reason=e.reason,
        kind=e.kind,
    )
    _insert(doc.handoffs, item)


def _tool_record(doc: CallDocument, e: ToolCalled | ToolCompleted) -> ToolCallRecord:
    key = e.tool_call_id or e.event_id
    for record in doc.tool_calls:
        if record.tool_call_id == key:
            return record
    record = ToolCallRecord(seq=e.seq, at=e.occurred_at, tool_call_id=key, tool=e.tool)
    _insert(doc.tool_calls, record)
    return record


def _tool_called(doc: CallDocument, e: ToolCalled) -> None:
    record = _tool_record(doc, e)
    if record.seq > e.seq:  # its completion was folded first: move it to where the call was made
        doc.tool_calls.remove(record)
        record.seq = e.seq
        _insert(doc.tool_calls, record)
    record.at, record.tool = e.occurred_at, e.tool or record.tool
    record.agent, record.arguments = e.agent or None, dict(e.arguments)


def _tool_completed(doc: CallDocument, e: ToolCompleted) -> None:
    record = _tool_record(doc, e)
    record.completed_at, record.ok, record.result = e.occurred_at, e.ok, e.result
    record.duration_ms, record.tool = e.duration_ms, record.tool or e.tool


def _interrupted(doc: CallDocument, e: PlaybackInterrupted) -> None:
    item = Interruption(seq=e.seq, at=e.occurred_at, agent=e.agent or None, turn=e.turn, heard_ms=e.heard_ms)
    _insert(doc.interruptions, item)


def _escalation(doc: CallDocument, e: EscalationRequested) -> None:
    item = Escalation(seq=e.seq, at=e.occurred_at, reason=e.reason, target=e.target, agent=e.agent or None)
    _insert(doc.escalations, item)


def _error(doc: CallDocument, e: ErrorOccurred) -> None:
    item = ErrorRecord(
        seq=e.seq, at=e.occurred_at, kind=e.kind, message=e.message, stage=e.stage, recoverable=e.recoverable
    )
    _insert(doc.errors, item)


def _call_ended(doc: CallDocument, e: CallEnded) -> None:
    if doc.status == "ended" and doc.ended_at is not None and doc.ended_at > e.occurred_at:
        return  # a later call_ended (of the worker that resumed the call) is already folded
    doc.status, doc.ended_at = "ended", e.occurred_at
    doc.duration_ms, doc.outcome, doc.end_reason = e.duration_ms, e.outcome or None, e.reason or None
    doc.false_interruptions = e.false_interruptions


_HANDLERS: dict[type[Event], Callable[[CallDocument, Any], None]] = {
    CallStarted: _call_started,
    TranscriptionReceived: _transcription,
    AgentResponseGenerated: _response,
    AgentHandoff: _handoff,
    ToolCalled: _tool_called,
    ToolCompleted: _tool_completed,
    PlaybackInterrupted: _interrupted,
    EscalationRequested: _escalation,
    ErrorOccurred: _error,
    CallEnded: _call_ended,
}


# -- derived fields ----------------------------------------------------------------------------
def derive_fields(doc: CallDocument) -> None:
    """Recompute every field that summarises the lists, walking them in ``seq`` order. When a
    store dropped the oldest entries to fit its size limit, the agents and turns counted before
    are kept; latency and usage then summarise the turns kept."""
    trimmed = bool(doc.transcript_omitted or doc.tool_calls_omitted)
    agents: list[str] = list(doc.agents) if trimmed else []
    active: str | None = None
    moments: list[tuple[int, int, Any]] = [(h.seq, 0, h) for h in doc.handoffs]
    moments += [(t.seq, 1, t) for t in doc.transcript]
    for _, _, item in sorted(moments, key=lambda m: (m[0], m[1])):
        if isinstance(item, Handoff):
            for name in (item.from_agent, item.to_agent):
                if name and name not in agents:
                    agents.append(name)
            active = item.to_agent or active
        elif item.speaker == "agent":
            if item.agent and item.agent not in agents:
                agents.append(item.agent)
            active = item.agent or active
        else:
            item.agent = active
    doc.agents = agents
    replies = [t for t in doc.transcript if t.speaker == "agent" and t.turn is not None]
    turns = len({t.turn for t in replies if t.turn})  # the greeting is turn 0
    # Trimmed: the turns dropped are no longer there to count, but turn numbers keep rising.
    last = max((t.turn for t in replies if t.turn), default=0)
    doc.turns = max(doc.turns, turns, last) if trimmed else turns
    doc.events_omitted = doc.event_count - len(doc.events)
    doc.barge_ins = len(doc.interruptions)
    doc.latency = _latency(replies)
    doc.usage = _usage(replies)


def summarise_latency(samples: Sequence[float]) -> LatencySummary:
    """p50 (the median), p95 (nearest rank) and the maximum, rounded to 0.1 ms."""
    if not samples:
        return LatencySummary()
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, -(-95 * len(ordered) // 100) - 1))
    return LatencySummary(
        samples=len(ordered),
        p50_ms=round(statistics.median(ordered), 1),
        p95_ms=round(ordered[rank], 1),
        max_ms=round(ordered[-1], 1),
    )


def _latency(replies: Sequence[TranscriptEntry]) -> CallLatency:
    stages: dict[str, list[float]] = {name: [] for name in _STAGES}
    for reply in replies:
        if reply.latency is None:
            continue
        for stage, source in _STAGES.items():
            value = getattr(reply.latency, source)
            if value is not None:
                stages[stage].append(value)
    return CallLatency(**{stage: summarise_latency(values) for stage, values in stages.items()})


_STAGES = {
    "total": "total_ms",
    "end_of_turn": "end_of_turn_ms",
    "stt": "stt_ms",
    "model_first_token": "model_first_token_ms",
    "tts_first_audio": "tts_first_audio_ms",
}


def _usage(replies: Sequence[TranscriptEntry]) -> TokenUsage:
    usage = TokenUsage()
    for reply in replies:
        if reply.prompt_tokens is None and reply.completion_tokens is None:
            continue
        prompt, completion = reply.prompt_tokens or 0, reply.completion_tokens or 0
        usage.prompt_tokens += prompt
        usage.completion_tokens += completion
        totals = usage.by_model.setdefault(reply.model or "", [0, 0])
        totals[0] += prompt
        totals[1] += completion
    return usage
