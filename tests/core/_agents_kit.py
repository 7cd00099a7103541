"""A small scenario for the agents-layer tests: Acme's reception, billing and support
(tests/core/agents_kit/), two tools, and a scripted model serving every agent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
from artagent.agents.catalog import AgentCatalog
from artagent.agents.layer import AgentsLayer
from artagent.agents.routing import ModelRouting
from artagent.agents.selection import ScenarioSelector
from artagent.agents.tools import ToolContext, ToolError, ToolRegistry, tool
from artagent.config import AgentsConfig
from artagent.providers import ModelRequest, ProviderRegistry, ProviderSpec, TextDelta, ToolCallRequest
from artagent.testing import FakeChannel, FakeModel, MemoryRecordStore, ScriptedResponse
from artagent.testing.clock import VirtualClock

KIT = Path(__file__).parent / "agents_kit"


class LookUp(msgspec.Struct):
    invoice: str
    """The invoice number, six digits."""
    year: int = 2026


LOOK_UP_S = 1.0
"""How long a look-up takes (on the call's clock: virtual time in the orchestrator tests)."""


@tool
async def look_up(args: LookUp, ctx: ToolContext) -> dict[str, Any]:
    """Find an invoice by its number."""
    await asyncio.sleep(LOOK_UP_S)
    if args.invoice == "000000":
        raise ToolError("that invoice was cancelled")
    if args.invoice == "999999":
        raise RuntimeError("database exploded")
    ctx.fields["invoice"] = args.invoice
    await ctx.store.put("invoices", args.invoice, {"amount": 42})
    return {"invoice": args.invoice, "amount": 42, "year": args.year}


class Reason(msgspec.Struct):
    reason: str = "the caller asked"


@tool
async def call_human(args: Reason, ctx: ToolContext) -> str:
    """Transfer the caller to a human colleague."""
    ctx.escalate(args.reason, target="+18005550100")
    return "transferring"


def agents_layer(
    clock: VirtualClock,
    responses: Sequence[ScriptedResponse],
    *,
    config: AgentsConfig | None = None,
    backup: Sequence[ScriptedResponse] = (),
) -> tuple[AgentsLayer, FakeModel]:
    """The Acme agents answered by the router ``scripted`` (``responses``); a second router,
    ``backup`` (``backup``), answers the agents ``config.routing`` gives it."""
    config = config or AgentsConfig()
    model = FakeModel(clock, responses, first_token_latency_s=0.1, inter_token_s=0.0)
    other = FakeModel(clock, backup, first_token_latency_s=0.1, inter_token_s=0.0)
    registry = ProviderRegistry()
    registry.add(ProviderSpec("model", "scripted", lambda _: model), owner="test")
    registry.add(ProviderSpec("model", "backup", lambda _: other), owner="test")
    tools = ToolRegistry([("test", look_up), ("test", call_human)])
    catalog = AgentCatalog.load([("test", KIT)], tools)
    selector = ScenarioSelector(config, catalog)
    routing = ModelRouting(registry, ["scripted"], config.routing)
    layer = AgentsLayer(catalog, tools, routing, selector, MemoryRecordStore())
    return layer, model


class TransferChannel(FakeChannel):
    """A channel that can hand the call to a human (as ACS does), succeeding or not."""

    def __init__(self, clock: VirtualClock, *, succeeds: bool) -> None:
        super().__init__(clock)
        self.succeeds = succeeds
        self.transfers: list[tuple[str | None, str]] = []

    async def transfer(self, target: str | None, reason: str) -> bool:
        self.transfers.append((target, reason))
        if self.succeeds:
            self.leave()  # the call is the human's now: our media stream ends
        return self.succeeds


class KeywordModel:
    """A model for end-to-end tests of the agents layer: it reacts to keywords of the caller's
    last words (``bill``: hand off to billing, ``person``: call a human), and answers anything
    else by repeating it."""

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    async def stream(self, request: ModelRequest) -> AsyncIterator[TextDelta | ToolCallRequest]:
        self.requests.append(request)
        offered = {tool.name for tool in request.tools}
        last = [m for m in request.messages if m.role != "system"][-1]
        agent = request.context.agent if request.context else "?"
        if last.role == "tool":
            yield TextDelta(f"{agent} here, done.")
            return
        text = last.content.lower()
        if "bill" in text and "handoff_to_billing" in offered:
            yield ToolCallRequest(id="h", name="handoff_to_billing", arguments={"reason": "billing"})
        elif "person" in text and "call_human" in offered:
            yield TextDelta("I will put you through.")
            yield ToolCallRequest(id="p", name="call_human", arguments={})
        else:
            yield TextDelta(f"You said: {last.content}")


PLUGIN_SOURCE = """
from artagent.hookspecs import hookimpl
from artagent.providers import ProviderSpec
import _agents_kit as kit

@hookimpl
def register_tools():
    return [kit.look_up, kit.call_human]

@hookimpl
def register_agents():
    return [kit.KIT]

@hookimpl
def register_providers():
    return [ProviderSpec("model", "scripted", lambda settings: kit.KeywordModel())]
"""
