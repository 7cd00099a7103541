"""Folding a call's events into its document: what the history keeps, in any order, each once."""

from __future__ import annotations

import random

import pytest
from _history_kit import T0, Script, insurance_call, long_call
from artagent.events import AgentResponseGenerated, CallEnded, CallStarted, ToolCalled, ToolCompleted
from artagent.history import CallDocument, DocumentTooLargeError, LatencySummary, fit_document, fold_events


def fold(events: list) -> CallDocument:  # type: ignore[type-arg]
    doc, _ = fold_events(None, events[0].call_id, events)
    assert doc is not None
    return doc


def test_a_call_folds_into_its_transcript_agents_tools_and_outcome() -> None:
    doc = fold(insurance_call())
    assert (doc.channel, doc.caller, doc.callee, doc.scenario) == (
        "acs",
        "+14255550100",
        "+18005550199",
        "insurance",
    )
    assert doc.started_at == T0.replace(second=4) and doc.status == "ended"
    assert (doc.outcome, doc.end_reason, doc.duration_ms) == ("resolved", "caller_hangup", 17000.0)
    assert [(t.speaker, t.agent, t.text, t.interrupted) for t in doc.transcript] == [
        ("agent", "auth", "Hello, this is Contoso.", False),
        ("caller", "auth", "I want to file a claim.", False),
        ("agent", "auth", "Thanks Ana, let me transfer you.", False),
        ("agent", "claims", "Claims here. What happened?", False),
        ("caller", "claims", "A tree fell on my car.", False),
        ("agent", "claims", "I am sorry to", True),
        ("caller", "claims", "I need a person.", False),
    ]
    assert [t.at.second for t in doc.transcript] == [5, 8, 11, 13, 14, 16, 17]
    assert doc.transcript[1].language == "en-US" and doc.transcript[2].model == "gpt-4o"
    assert doc.agents == ["auth", "claims"] and doc.workers == ["worker-a"]
    assert [(h.from_agent, h.to_agent, h.reason) for h in doc.handoffs] == [
        ("auth", "claims", "claim intent")
    ]
    [tool] = doc.tool_calls
    assert (tool.tool, tool.agent, tool.arguments, tool.ok, tool.result, tool.duration_ms) == (
        "lookup_policy", "auth", {"policy": "P-100"}, True, {"holder": "Ana"}, 42.5,
    )  # fmt: skip
    assert [(e.reason, e.target) for e in doc.escalations] == [("caller asked", "+18005550111")]
    assert [(e.kind, e.stage) for e in doc.errors] == [("TimeoutError", "reply")]
    assert (doc.barge_ins, doc.interruptions[0].heard_ms, doc.turns) == (1, 800.0, 2)
    assert doc.latency.total == LatencySummary(samples=3, p50_ms=700.0, p95_ms=970.0, max_ms=970.0)
    assert doc.latency.stt == LatencySummary(samples=1, p50_ms=120.0, p95_ms=120.0, max_ms=120.0)
    assert (doc.usage.prompt_tokens, doc.usage.completion_tokens) == (530, 40)
    assert doc.usage.by_model == {"gpt-4o": [320, 20], "gpt-4o-mini": [210, 20]}
    assert (doc.event_count, doc.last_seq) == (15, 17)  # the partial transcript and speech_started skipped


def test_events_in_any_order_and_any_batching_fold_into_the_same_document() -> None:
    events = insurance_call()
    expected = fold(events)
    rng = random.Random(7)
    for _ in range(20):
        shuffled = events[:]
        rng.shuffle(shuffled)
        doc: CallDocument | None = None
        cut = sorted(rng.sample(range(1, len(events)), 3))
        for batch in (
            shuffled[: cut[0]],
            shuffled[cut[0] : cut[1]],
            shuffled[cut[1] : cut[2]],
            shuffled[cut[2] :],
        ):
            doc, _ = fold_events(doc, "call-42", batch)
        assert doc == expected


def test_events_already_seen_are_not_folded_again() -> None:
    events = insurance_call()
    doc, ids = fold_events(None, "call-42", events)
    assert doc is not None and len(ids) == 15 and len(set(ids)) == 15
    again, new = fold_events(doc, "call-42", [*events, *events], set(ids))
    assert new == [] and again is doc and len(doc.transcript) == 7
    _, twice = fold_events(None, "call-42", [*events, *events])  # a batch holding duplicates
    assert sorted(twice) == sorted(ids)


def test_a_tool_result_folded_before_its_call_is_paired_with_it() -> None:
    s = Script("call-tools")
    called = s.add(ToolCalled, tool="lookup", tool_call_id="t-9", agent="auth", arguments={"q": 1})
    completed = s.add(
        ToolCompleted, tool="lookup", tool_call_id="t-9", ok=False, result="boom", duration_ms=5.0
    )
    doc, _ = fold_events(None, "call-tools", [completed])
    assert doc is not None and doc.tool_calls[0].ok is False and doc.tool_calls[0].arguments == {}
    fold_events(doc, "call-tools", [called])
    [tool] = doc.tool_calls
    assert (tool.seq, tool.agent, tool.arguments, tool.ok, tool.result) == (
        1,
        "auth",
        {"q": 1},
        False,
        "boom",
    )


def test_a_resumed_call_keeps_its_first_start_and_the_last_end() -> None:
    s = Script("call-resumed")
    s.add(CallStarted, channel="acs", worker="worker-a")
    s.add(AgentResponseGenerated, agent="auth", text="Hello.", turn=0)
    s.seq = 10_002  # the second worker numbers its events above the saved seq
    s.add(CallStarted, channel="acs", worker="worker-b", resumed=True)
    s.add(AgentResponseGenerated, agent="auth", text="Sorry about that. Where were we?", turn=0)
    s.add(CallEnded, reason="caller_hangup", outcome="resolved", duration_ms=9000.0)
    doc = fold(s.events[::-1])
    assert (doc.resumed, doc.started_at) == (1, T0.replace(second=4))
    assert set(doc.workers) == {"worker-a", "worker-b"}
    assert [t.text for t in doc.transcript] == ["Hello.", "Sorry about that. Where were we?"]
    assert (doc.status, doc.outcome) == ("ended", "resolved")


def test_an_event_of_another_call_is_refused() -> None:
    with pytest.raises(ValueError, match="belongs to call 'call-42', not 'call-other'"):
        fold_events(None, "call-other", insurance_call())


def test_the_raw_events_keep_the_first_and_last_halves_whatever_the_fold_order() -> None:
    events = long_call("call-long", 40)
    whole, _ = fold_events(None, "call-long", events, max_events=10)
    assert whole is not None and len(whole.events) == 10
    assert whole.events_omitted == whole.event_count - 10 > 0
    uncapped, _ = fold_events(None, "call-long", events)
    assert uncapped is not None
    every = [int(e["seq"]) for e in uncapped.events]
    assert [int(e["seq"]) for e in whole.events] == every[:5] + every[-5:]
    assert whole.events[0]["type"] == "call_started" and whole.events[-1]["type"] == "call_ended"
    shuffled = list(events)
    random.Random(7).shuffle(shuffled)
    doc = None
    for start in range(0, len(shuffled), 13):
        doc, _ = fold_events(doc, "call-long", shuffled[start : start + 13], max_events=10)
    assert doc == whole
    assert len(whole.transcript) == 80 and whole.turns == 40  # the typed lists keep everything


def test_a_document_made_to_fit_drops_raw_events_then_the_oldest_turns_and_says_so() -> None:
    import msgspec

    doc, _ = fold_events(None, "call-long", long_call("call-long", 200), max_events=100)
    assert doc is not None
    size = lambda d: len(msgspec.json.encode(d))  # noqa: E731
    full = size(doc)
    fit_document(doc, size, full - 1)  # the raw events are enough
    assert doc.transcript_omitted == 0 and 0 < len(doc.events) < 100 and size(doc) <= full - 1
    fit_document(doc, size, full // 2)
    assert doc.events == [] and doc.transcript_omitted > 0 and size(doc) <= full // 2
    assert doc.turns == 200 and doc.agents == ["claims"]  # counted before, kept after
    assert doc.transcript[-1].turn == 200  # the newest turns stay
    assert len(doc.transcript) + doc.transcript_omitted == 400
    assert len(doc.tool_calls) + doc.tool_calls_omitted == 40
    with pytest.raises(DocumentTooLargeError, match="even without its transcript"):
        fit_document(doc, size, 100)
