"""A bicycle shop for the flows engine's own tests (tests/plugins/flows/bikeshop/): its tools,
and a text call through the real orchestrator and session on virtual time, answered by the
flows router with no LLM."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from artagent.agents.catalog import AgentCatalog
from artagent.agents.orchestrator import Orchestrator
from artagent.agents.routing import ModelRouting
from artagent.agents.tools import ToolContext, ToolError, ToolRegistry, tool
from artagent.events import AgentResponseGenerated, Event, ToolCalled
from artagent.providers import ProviderRegistry, ProviderSpec
from artagent.session.engine import SessionSettings
from artagent.session.state import SessionState
from artagent.testing import CallHarness, MemoryRecordStore, VirtualClock
from artagent_flows.router import FlowRouter

KIT = Path(__file__).parent / "bikeshop"
NOW = dt.datetime(2026, 3, 4, 9, 0, tzinfo=ZoneInfo("America/Chicago"))
"""A Wednesday morning."""
PRICES = {"tune-up": 60, "flat": 15, "brakes": 40}


MAX_BIKES = 3


class Booking(msgspec.Struct, kw_only=True):
    customer: str
    bikes: int
    service: str
    broke_at: str
    express: bool
    zip: str = ""


@tool
async def book_repair(args: Booking, ctx: ToolContext) -> dict[str, Any]:
    """Book the repair once every detail is known."""
    if args.bikes > MAX_BIKES:
        raise ToolError(f"we can take at most {MAX_BIKES} bikes at once, so fewer bikes please")
    dt.datetime.fromisoformat(args.broke_at)  # a real date and time, or the tool fails
    await ctx.store.put("bookings", ctx.call_id, msgspec.to_builtins(args))
    return {"ticket": "BK-0042"}


class Reason(msgspec.Struct):
    reason: str = "the caller asked"


@tool
async def call_mechanic(args: Reason, ctx: ToolContext) -> dict[str, Any]:
    """Put a mechanic on the line."""
    ctx.escalate(args.reason)
    return {"transferring": True}


class Service(msgspec.Struct):
    service: str


@tool
async def price_list(args: Service, ctx: ToolContext) -> dict[str, Any]:
    """The price of a service."""
    return {"service": args.service, "price": PRICES[args.service]}


@dataclass
class ShopCall:
    harness: CallHarness
    store: MemoryRecordStore

    @property
    def events(self) -> list[Event]:
        return self.harness.events

    def said(self) -> list[str]:
        """What the agents said, one entry per reply."""
        return [a.text for a in self.harness.of(AgentResponseGenerated) if a.text]

    def tools(self) -> list[tuple[str, dict[str, Any]]]:
        return [(c.tool, c.arguments) for c in self.harness.of(ToolCalled)]


def shop_call(clock: VirtualClock, lines: Sequence[str], *, state: SessionState | None = None) -> ShopCall:
    """Type ``lines`` to the bike shop, one turn each once the agent has answered; ``state``:
    go on with a call another worker started (as the launcher does when resuming it)."""
    tools = ToolRegistry([("test", t) for t in (book_repair, call_mechanic, price_list)])
    catalog = AgentCatalog.load([("test", KIT)], tools)
    registry = ProviderRegistry()
    registry.add(ProviderSpec("model", "flows", lambda _: FlowRouter()), owner="flows")
    store = MemoryRecordStore()
    orchestrator = Orchestrator(
        catalog.scenarios["bikeshop"],
        catalog,
        tools,
        ModelRouting(registry, ["flows"]),
        store,
        now=lambda: NOW,
    )
    harness = CallHarness.build(clock)
    settings = SessionSettings(farewell="", idle_reprompt_s=1e6, idle_hangup_s=2e6)

    async def caller() -> None:
        task = await harness.start(settings, conversation=orchestrator, state=state)
        assert harness.session is not None
        await harness.session.until_quiet()
        for line in lines:
            await harness.session.submit_text(line)
            await harness.session.until_quiet()
        harness.channel.leave()
        await task

    clock.run(caller(), until=3600.0)
    return ShopCall(harness, store)
