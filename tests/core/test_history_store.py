"""The call history store contract, run over every store: core's SQLite file and the Cosmos DB
store (the real azure-cosmos SDK against the local fake endpoint in tests/_fake_cosmos.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import msgspec
import pytest
from _fake_cosmos import KEY, FakeCosmos
from _history_kit import T0, insurance_call, long_call, short_call
from artagent.history import CallDocument, CallHistoryStore, CallQuery, fold_events
from artagent.history.sqlite import SqliteHistoryStore
from artagent_cosmos.config import CosmosConfig
from artagent_cosmos.store import CosmosHistoryStore

RETENTION_S = 30 * 86_400
MAX_EVENTS = 1000  # [history] max_events' default
Opener = Callable[[], Awaitable[CallHistoryStore]]


@pytest.fixture(params=["sqlite", "cosmos"])
async def open_store(request: pytest.FixtureRequest, data_dir: Path) -> AsyncIterator[Opener]:
    """Opens (and later closes) store instances on one backing storage: a second instance is
    another process's view, or the same process after a restart."""
    opened: list[CallHistoryStore] = []
    async with FakeCosmos() as fake:

        async def open_one() -> CallHistoryStore:
            store: CallHistoryStore
            if request.param == "sqlite":
                store = SqliteHistoryStore(data_dir / "history.sqlite3", max_events=MAX_EVENTS)
            else:
                config = CosmosConfig(endpoint=fake.endpoint, key_env="COSMOS_KEY")
                store = CosmosHistoryStore(config, key=KEY, retention_s=RETENTION_S, max_events=MAX_EVENTS)
            await store.start()
            opened.append(store)
            return store

        yield open_one
        for store in opened:
            await store.close()


@pytest.fixture
async def store(open_store: Opener) -> CallHistoryStore:
    return await open_store()


def folded(events: list) -> CallDocument:  # type: ignore[type-arg]
    doc, _ = fold_events(None, events[0].call_id, events)
    assert doc is not None
    return doc


async def test_a_stored_call_reads_back_as_the_document_its_events_fold_into(store: CallHistoryStore) -> None:
    events = insurance_call()
    [written] = await store.apply(events)
    assert written == folded(events)
    assert await store.get("call-42") == written
    assert await store.get("call-nobody-made") is None


async def test_applying_the_same_events_again_changes_nothing(store: CallHistoryStore) -> None:
    events = insurance_call()
    await store.apply(events)
    first = await store.get("call-42")
    assert await store.apply(events) == []
    assert await store.apply(events[3:9]) == []
    again = await store.get("call-42")
    assert again == first and again is not None
    assert [t.text for t in again.transcript].count("I want to file a claim.") == 1
    assert again.event_count == first.event_count == 15  # partial transcript and speech events skipped


async def test_batches_out_of_order_give_the_same_document_as_one_batch(store: CallHistoryStore) -> None:
    events = insurance_call()
    for batch in (events[12:], events[5:12], events[:5]):
        await store.apply(batch)
    assert await store.get("call-42") == folded(events)


async def test_the_ids_already_folded_survive_a_restart(open_store: Opener) -> None:
    events = insurance_call()
    first = await open_store()
    await first.apply(events[:10])
    await first.close()
    restarted = await open_store()
    assert await restarted.apply(events) != []  # only the events not folded before
    assert await restarted.apply(events) == []
    assert await restarted.get("call-42") == folded(events)


async def test_two_writers_folding_one_call_at_once_lose_nothing(open_store: Opener) -> None:
    events = insurance_call()
    a, b = await open_store(), await open_store()
    halves = [events[i::2] for i in range(2)]
    for _ in range(3):  # several rounds, so the writers really overlap
        await asyncio.gather(a.apply(halves[0]), b.apply(halves[1]))
    assert await a.get("call-42") == await b.get("call-42") == folded(events)


async def _fill(store: CallHistoryStore) -> None:
    for i in range(7):
        outcome, agent = ("resolved", "auth") if i % 2 == 0 else ("escalated", "claims")
        await store.apply(short_call(f"c-{i}", T0 + dt.timedelta(minutes=i), outcome=outcome, agent=agent))


async def test_calls_are_listed_newest_first_and_filtered(store: CallHistoryStore) -> None:
    await _fill(store)
    page = await store.list(CallQuery())
    assert [c.call_id for c in page.calls] == [f"c-{i}" for i in reversed(range(7))]
    assert page.next_cursor is None
    assert page.calls[0].turns == 1 and page.calls[0].status == "ended" and page.calls[0].agents == ["auth"]

    async def ids(**filters: object) -> list[str]:
        return [c.call_id for c in (await store.list(CallQuery(**filters))).calls]  # type: ignore[arg-type]

    assert await ids(outcome="escalated") == ["c-5", "c-3", "c-1"]
    assert await ids(agent="auth") == ["c-6", "c-4", "c-2", "c-0"]
    assert await ids(agent="nobody") == []
    window = {"since": T0 + dt.timedelta(minutes=2), "until": T0 + dt.timedelta(minutes=5)}
    assert await ids(**window) == ["c-4", "c-3", "c-2"]  # since inclusive, until exclusive
    assert await ids(**window, outcome="resolved", agent="auth") == ["c-4", "c-2"]


async def test_pages_follow_each_other_without_gaps_or_repeats(store: CallHistoryStore) -> None:
    await _fill(store)
    await store.apply(short_call("c-same-start", T0 + dt.timedelta(minutes=3)))  # ties break by id
    seen: list[str] = []
    before: str | None = None
    for _ in range(10):
        page = await store.list(CallQuery(limit=3, before=before))
        seen += [c.call_id for c in page.calls]
        if page.next_cursor is None:
            break
        assert len(page.calls) == 3
        before = page.next_cursor
    assert seen == ["c-6", "c-5", "c-4", "c-same-start", "c-3", "c-2", "c-1", "c-0"]


async def test_retention_deletes_calls_whose_last_event_is_older_than_the_cutoff(
    store: CallHistoryStore,
) -> None:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    await store.apply(short_call("old", now - dt.timedelta(days=40)))
    await store.apply(short_call("recent", now - dt.timedelta(days=2)))
    assert await store.delete_expired(now - dt.timedelta(days=30)) == 1
    assert await store.get("old") is None
    assert (await store.get("recent")) is not None
    assert [c.call_id for c in (await store.list(CallQuery())).calls] == ["recent"]
    assert await store.delete_expired(now - dt.timedelta(days=30)) == 0
    # An expired call that comes back (its events replayed) starts afresh, not as a duplicate.
    await store.apply(short_call("old", now - dt.timedelta(days=40)))
    doc = await store.get("old")
    assert doc is not None and doc.event_count == 4


async def test_documents_keep_every_json_value_tools_return(store: CallHistoryStore) -> None:
    events = insurance_call()
    await store.apply(events)
    doc = await store.get("call-42")
    assert doc is not None
    [tool] = doc.tool_calls
    assert (tool.arguments, tool.result, tool.duration_ms) == ({"policy": "P-100"}, {"holder": "Ana"}, 42.5)
    assert msgspec.json.decode(msgspec.json.encode(doc), type=CallDocument) == doc


async def test_a_very_long_call_is_stored_whole_or_says_what_it_left_out(store: CallHistoryStore) -> None:
    """3,000 turns (about 25,000 events): past what one Cosmos DB item holds even with the raw
    events bounded. Every batch is stored (none is refused for ever, which would redeliver it
    for ever); the raw events keep the call's first and last 500; a store with a size limit drops
    the oldest turns and counts them, one without keeps everything."""
    turns = 3000
    events = long_call("call-long", turns)
    for start in range(0, len(events), 2048):
        await store.apply(events[start : start + 2048])
    doc = await store.get("call-long")
    assert doc is not None
    assert (doc.status, doc.outcome, doc.turns) == ("ended", "claim_recorded", turns)
    kept_types = {"call_started", "transcription_received", "agent_response_generated", "tool_called",
                  "tool_completed", "playback_started", "call_ended"}  # fmt: skip
    assert doc.event_count == sum(
        1 for e in events if e.type_tag() in kept_types and getattr(e, "is_final", True)
    )
    assert len(doc.events) + doc.events_omitted == doc.event_count
    assert len(doc.events) <= MAX_EVENTS
    if doc.events:
        assert doc.events[0]["type"] == "call_started" and doc.events[-1]["type"] == "call_ended"
    assert len(doc.transcript) + doc.transcript_omitted == 2 * turns
    assert len(doc.tool_calls) + doc.tool_calls_omitted == turns // 5
    assert doc.transcript[-1].text.startswith("Thank you") and doc.transcript[-1].turn == turns
    if store.name == "sqlite":
        assert doc.transcript_omitted == doc.tool_calls_omitted == 0 and len(doc.events) == MAX_EVENTS
    else:  # a Cosmos DB item is at most 2 MB: the oldest turns made room for the newest
        assert doc.transcript_omitted > 0 and doc.agents == ["claims"]
    assert await store.apply(events[-4000:]) == []  # redelivered: nothing folded twice
    assert await store.get("call-long") == doc
