"""Benchmark `history`: how fast the call history stores fold events, and read them back.

The real ``SqliteHistoryStore`` in a temporary folder (WAL, ``synchronous=FULL``, its two
dedicated threads), then the real Cosmos DB store (the azure-cosmos SDK) against the tests'
local fake Cosmos DB endpoint on loopback (``cosmos_*`` figures: the SDK's and the store's own
cost, with no network or service latency; Azure adds a few milliseconds per request). Both are
fed the way the history subscriber feeds them: batches of ``--batch`` events
interleaved over ``--calls`` concurrent calls, each call a greeting then ``--turns`` turns of a
final caller transcript, a tool call and its result, and an agent reply with its latency and
token usage, then ``call_ended``. Every document grows as its call goes on, so late batches
rewrite larger documents. Then ``get`` of a finished call and ``list`` of the newest 50 calls
are timed.

Run alone (prints the figures, writes nothing): ``.venv/bin/python scripts/bench_history.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
from _benchlib import Figure, percentile
from artagent.events import (
    AgentResponseGenerated,
    CallEnded,
    CallStarted,
    Event,
    ToolCalled,
    ToolCompleted,
    TranscriptionReceived,
    TurnLatency,
)  # fmt: skip
from artagent.history import CallHistoryStore, CallQuery
from artagent.history.sqlite import SqliteHistoryStore

TITLE = "Call history: folding events into the SQLite and Cosmos DB stores, and reading calls back"
TESTS = Path(__file__).resolve().parents[1] / "tests"  # the fake Cosmos DB endpoint lives there
ABOUT = __doc__.split("\n\n", 1)[1].split("\n\nRun alone", 1)[0]
FIGURES = {
    "events_per_s": Figure("events/s", "Events folded and durably written per second, all calls", ">= 2000"),
    "batch_p50_ms": Figure("ms", "Median time of one apply() of a batch"),
    "batch_p99_ms": Figure("ms", "99th percentile time of one apply() of a batch"),
    "get_p50_ms": Figure("ms", "Median time of get() of one finished call", "< 20"),
    "list_p50_ms": Figure("ms", "Median time of list() of the newest 50 calls", "< 50"),
    "document_kib": Figure("KiB", "Size of one finished call's document as JSON"),
    "cosmos_events_per_s": Figure("events/s", "Cosmos DB store (fake endpoint): events folded per second"),
    "cosmos_batch_p50_ms": Figure("ms", "Cosmos DB store: median time of one apply() of a batch"),
    "cosmos_batch_p99_ms": Figure("ms", "Cosmos DB store: 99th percentile time of one apply()"),
    "cosmos_get_p50_ms": Figure("ms", "Cosmos DB store: median time of get() of one finished call"),
    "cosmos_list_p50_ms": Figure("ms", "Cosmos DB store: median time of list() of the newest 50 calls"),
    "events": Figure("events", "Events folded"),
    "calls": Figure("calls", "Calls"),
}
T0 = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=100, help="concurrent calls")
    parser.add_argument("--turns", type=int, default=20, help="turns per call")
    parser.add_argument("--batch", type=int, default=256, help="events per apply()")
    parser.add_argument("--reads", type=int, default=200, help="get() and list() calls timed")


def _call(i: int, turns: int) -> list[Event]:
    call_id, start = f"bench-{i:05d}", T0 + dt.timedelta(seconds=i)
    seq, out = 0, []

    def add(kind: type[Event], **fields: Any) -> None:
        nonlocal seq
        seq += 1
        out.append(kind(call_id=call_id, seq=seq, occurred_at=start + dt.timedelta(seconds=seq), **fields))

    add(CallStarted, channel="acs", caller="+14255550100", scenario="insurance", worker="bench")
    add(AgentResponseGenerated, agent="auth", text="Hello, this is Contoso insurance.", turn=0)
    for turn in range(1, turns + 1):
        add(TranscriptionReceived, text=f"My policy number is P-{turn:04d} and I have a question.")
        add(ToolCalled, tool="lookup_policy", tool_call_id=f"t{turn}", agent="auth", arguments={"id": turn})
        add(
            ToolCompleted, tool="lookup_policy", tool_call_id=f"t{turn}", result={"ok": True}, duration_ms=4.0
        )
        latency = TurnLatency(total_ms=600.0 + turn)
        add(AgentResponseGenerated, agent="auth", text="Thanks, I found your policy. " * 3, turn=turn,
            latency=latency, model="gpt-4o", prompt_tokens=900, completion_tokens=40)  # fmt: skip
    add(CallEnded, reason="caller_hangup", duration_ms=seq * 1000.0, outcome="resolved", turns=turns)
    return out


def _interleaved(calls: list[list[Event]]) -> list[Event]:
    longest = max(len(c) for c in calls)
    return [c[k] for k in range(longest) for c in calls if k < len(c)]


async def _timed(store: CallHistoryStore, events: list[Event], args: argparse.Namespace) -> dict[str, Any]:
    """Apply every batch, then time get() and list(); the raw timings and the last document."""
    await store.start()
    try:
        batches = [events[i : i + args.batch] for i in range(0, len(events), args.batch)]
        times: list[float] = []
        started = time.perf_counter()
        for batch in batches:
            t = time.perf_counter()
            await store.apply(batch)
            times.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - started
        gets, lists = [], []
        for r in range(args.reads):
            t = time.perf_counter()
            doc = await store.get(f"bench-{r % args.calls:05d}")
            gets.append(time.perf_counter() - t)
            t = time.perf_counter()
            await store.list(CallQuery(limit=50))
            lists.append(time.perf_counter() - t)
        assert doc is not None and doc.status == "ended"
    finally:
        await store.close()
    return {"elapsed": elapsed, "times": times, "gets": gets, "lists": lists, "doc": doc}


def _figures(timed: dict[str, Any], events: int, prefix: str = "") -> dict[str, float]:
    return {
        f"{prefix}events_per_s": round(events / timed["elapsed"]),
        f"{prefix}batch_p50_ms": round(percentile(timed["times"], 50) * 1000, 2),
        f"{prefix}batch_p99_ms": round(percentile(timed["times"], 99) * 1000, 2),
        f"{prefix}get_p50_ms": round(percentile(timed["gets"], 50) * 1000, 3),
        f"{prefix}list_p50_ms": round(percentile(timed["lists"], 50) * 1000, 3),
    }


async def _cosmos(events: list[Event], args: argparse.Namespace) -> dict[str, float]:
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    from _fake_cosmos import KEY, FakeCosmos
    from artagent_cosmos.config import CosmosConfig
    from artagent_cosmos.store import CosmosHistoryStore

    async with FakeCosmos() as fake:
        config = CosmosConfig(endpoint=fake.endpoint, key_env="COSMOS_KEY")
        store = CosmosHistoryStore(config, key=KEY, retention_s=30 * 86_400, max_events=1000)
        return _figures(await _timed(store, events, args), len(events), "cosmos_")


async def measure(folder: Path, args: argparse.Namespace) -> dict[str, float]:
    events = _interleaved([_call(i, args.turns) for i in range(args.calls)])
    sqlite = await _timed(SqliteHistoryStore(folder / "history.sqlite3", max_events=1000), events, args)
    return {
        **_figures(sqlite, len(events)),
        **await _cosmos(events, args),
        "document_kib": round(len(msgspec.json.encode(sqlite["doc"])) / 1024, 1),
        "events": len(events),
        "calls": args.calls,
    }


def run(args: argparse.Namespace) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="aa-bench-history-"))
    try:
        return asyncio.run(measure(folder, args))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=TITLE)
    add_arguments(parser)
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
