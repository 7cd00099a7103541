"""``artagent calls`` and ``artagent calls show ID``: the call history from the terminal.

The commands open the configured store directly (the SQLite file under ``data_dir``, or the
Cosmos DB container), so they work whether or not a server is running. A call still going on
shows what the history has folded so far; ``GET /api/v1/calls/{id}`` adds its live state.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import re
import sys
from typing import Any

import msgspec

from artagent.config import LoadedConfig
from artagent.history.document import CallDocument, CallPage, CallQuery, CallSummary
from artagent.history.service import CallHistory, InvalidCursorError
from artagent.history.store import CallHistoryStore

__all__ = ["parse_time", "run"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_time(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """An RFC 3339 time (UTC when it has no offset), or a duration before now: 30m, 2h, 7d."""
    match = _DURATION.match(text.strip())
    if match:
        delta = dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
        return (now or dt.datetime.now(dt.UTC)) - delta
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO 8601 time nor a duration such as 30m, 2h or 7d"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def run(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    """Entry point of ``artagent calls [show ID]``; returns the exit code."""
    from artagent.runtime import Runtime

    logging.getLogger("artagent.runtime").setLevel(logging.ERROR)  # "calls cannot start here" is noise
    history = Runtime(loaded).history
    if not history.enabled:
        print("error: call history is disabled ([history] store is empty)", file=sys.stderr)
        return 1
    if getattr(args, "action", None) == "show":
        return asyncio.run(_opened(history, lambda: _show(history, args.call_id, as_json=args.json)))
    query = _query(args)
    if query is None:
        return 2
    return asyncio.run(_opened(history, lambda: _list(history, query, args.cursor, as_json=args.json)))


def _query(args: argparse.Namespace) -> CallQuery | None:
    """The options as a query, or ``None`` after printing which option is wrong."""
    times: dict[str, dt.datetime | None] = {}
    for option in ("since", "until"):
        try:
            times[option] = parse_time(getattr(args, option)) if getattr(args, option) else None
        except ValueError as exc:
            print(f"error: --{option}: {exc}", file=sys.stderr)
            return None
    if not 1 <= args.limit <= 200:
        print("error: --limit: must be between 1 and 200", file=sys.stderr)
        return None
    since, until = times["since"], times["until"]
    return CallQuery(since=since, until=until, outcome=args.outcome, agent=args.agent, limit=args.limit)


async def _opened(history: CallHistory, work: Any) -> int:
    await history.start(purge=False)
    try:
        code: int = await work()
        return code
    finally:
        await history.stop()


async def _list(history: CallHistory, query: CallQuery, cursor: str | None, *, as_json: bool) -> int:
    try:
        page = await history.list(query, cursor)
    except InvalidCursorError as exc:
        print(f"error: --cursor: {exc}", file=sys.stderr)
        return 2
    if as_json:
        sys.stdout.write(msgspec.json.encode(page).decode() + "\n")
        return 0
    _print_page(page, history.store)
    return 0


def _print_page(page: CallPage, store: CallHistoryStore | None) -> None:
    if not page.calls:
        print(f"no calls in the history ({store.name if store else '-'} store)")
        return
    rows: list[tuple[str, ...]] = [
        ("STARTED (UTC)", "CALL", "CHANNEL", "DURATION", "TURNS", "OUTCOME", "AGENTS")
    ]
    rows += [_summary_row(call) for call in page.calls]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if page.next_cursor:
        print(f"more: artagent calls --cursor {page.next_cursor}")


def _summary_row(call: CallSummary) -> tuple[str, ...]:
    duration = f"{call.duration_ms / 1000:.1f} s" if call.duration_ms is not None else "live?"
    outcome = call.outcome or (call.end_reason if call.status == "ended" else "in progress") or "-"
    return (_clock(call.started_at, date=True), call.call_id, call.channel or "-", duration, str(call.turns),
            outcome, ", ".join(call.agents) or "-")  # fmt: skip


async def _show(history: CallHistory, call_id: str, *, as_json: bool) -> int:
    doc = await history.get(call_id)
    if doc is None:
        print(f"error: no call {call_id!r} in the history", file=sys.stderr)
        return 1
    if as_json:
        sys.stdout.write(msgspec.json.encode(doc).decode() + "\n")
        return 0
    for line in describe(doc):
        print(line)
    return 0


def describe(doc: CallDocument) -> list[str]:
    """The call as lines of text: a header, the transcript, then tools, handoffs and problems."""
    ended = (
        f"ended: {doc.outcome or '-'} ({doc.end_reason or '-'})" if doc.status == "ended" else "in progress"
    )
    duration = f", {doc.duration_ms / 1000:.1f} s" if doc.duration_ms is not None else ""
    scenario = f", scenario {doc.scenario}" if doc.scenario else ""
    lines = [
        f"call {doc.call_id}  ({doc.channel or '-'}{scenario})  {ended}",
        f"started {_clock(doc.started_at, date=True)} UTC{duration}, caller {doc.caller or '-'}, "
        f"agents {' -> '.join(doc.agents) or '-'}",
    ]
    total = doc.latency.total
    if total.samples:
        lines.append(f"latency p50 {total.p50_ms} ms, p95 {total.p95_ms} ms over {total.samples} turns; "
                     f"tokens {doc.usage.prompt_tokens} in, {doc.usage.completion_tokens} out")  # fmt: skip
    lines.append("")
    width = max([len(t.agent or "") for t in doc.transcript] + [6])
    for t in doc.transcript:
        who = "caller" if t.speaker == "caller" else (t.agent or "agent")
        cut = "  [interrupted]" if t.interrupted else ""
        lines.append(f"{_clock(t.at)}  {who.ljust(width)}  {t.text}{cut}")
    lines += _extras(doc)
    return lines


def _extras(doc: CallDocument) -> list[str]:
    lines: list[str] = []
    for tool in doc.tool_calls:
        result = (
            "pending" if tool.ok is None else f"{'ok' if tool.ok else 'failed'} {json.dumps(tool.result)}"
        )
        took = f" ({tool.duration_ms} ms)" if tool.duration_ms is not None else ""
        lines.append(
            f"tool     {_clock(tool.at)}  {tool.tool}({json.dumps(tool.arguments)}) -> {result}{took}"
        )
    lines += [f"handoff  {_clock(h.at)}  {h.from_agent} -> {h.to_agent}: {h.reason}" for h in doc.handoffs]
    lines += [f"escalate {_clock(e.at)}  {e.reason} -> {e.target or '-'}" for e in doc.escalations]
    lines += [f"error    {_clock(e.at)}  {e.stage}: {e.kind}: {e.message}" for e in doc.errors]
    return ["", *lines] if lines else []


def _clock(moment: dt.datetime, *, date: bool = False) -> str:
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")
