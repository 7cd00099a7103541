"""One call as ``GET /api/v1/calls/{call_id}`` shows it: live from Redis, or from the history.

While a worker holds the call's lease the call is live: its conversation comes from the session
state in Redis (saved after every turn, so it is never behind the bus), with the latency and
token usage of each agent reply taken from the history document where it has folded that reply
already; everything else (tool calls, handoffs, errors, ...) is what the history has so far.
Once the lease is gone the history document alone answers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

from artagent.history.document import CallDetail, CallDocument, TranscriptEntry
from artagent.history.service import CallHistory
from artagent.session.state import SessionState, SessionStore

__all__ = ["call_detail"]


async def call_detail(history: CallHistory, sessions: SessionStore, call_id: str) -> CallDetail | None:
    """The call, or ``None`` when it is neither live nor in the history."""
    owner = await sessions.owner(call_id)
    doc = await history.get(call_id) if history.enabled else None
    if owner is None:
        return None if doc is None else _detail(doc)
    state = await sessions.load(call_id)
    if state is None:
        return None if doc is None else _detail(doc, live=True)
    return _merge(doc, state)


def _detail(doc: CallDocument, *, live: bool = False) -> CallDetail:
    fields = {name: getattr(doc, name) for name in doc.__struct_fields__}
    return CallDetail(**fields, live=live)


def _merge(doc: CallDocument | None, state: SessionState) -> CallDetail:
    if doc is None:
        doc = CallDocument(
            call_id=state.call_id, channel=state.channel, scenario=state.scenario,
            started_at=state.started_at, last_event_at=state.updated_at,
            workers=[state.worker] if state.worker else [],
        )  # fmt: skip
    detail = _detail(doc, live=True)
    detail.transcript = _conversation(state, doc.transcript)
    detail.active_agent, detail.fields = state.active_agent, dict(state.fields)
    detail.turns = max(detail.turns, state.turn)
    detail.scenario = detail.scenario or state.scenario
    return detail


def _conversation(state: SessionState, folded: Sequence[TranscriptEntry]) -> list[TranscriptEntry]:
    """The session's conversation as transcript entries; an agent reply the history has folded
    already comes with its latency and usage (entries not folded yet have ``seq`` 0)."""
    replies = [t for t in folded if t.speaker == "agent"]
    entries: list[TranscriptEntry] = []
    for message in state.history:
        if message.role not in ("user", "assistant") or not message.content:
            continue
        at = state.started_at + dt.timedelta(seconds=message.at)
        if message.role == "assistant":
            match = next((t for t in replies if (t.text, t.agent) == (message.content, message.agent)), None)
            if match is not None:
                replies.remove(match)
                entries.append(match)
                continue
        speaker: Literal["caller", "agent"] = "agent" if message.role == "assistant" else "caller"
        entries.append(
            TranscriptEntry(
                seq=0, at=at, speaker=speaker, text=message.content, agent=message.agent,
                interrupted=message.interrupted,
            )
        )  # fmt: skip
    return entries
