"""The agents layer of a runtime: catalogue, tools, routing and scenario choice, in one place,
and the conversation each call gets from them."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from artagent.agents.catalog import AgentCatalog
from artagent.agents.definitions import AgentDefinition
from artagent.agents.orchestrator import Orchestrator
from artagent.agents.routing import ModelRouting
from artagent.agents.selection import ScenarioSelector
from artagent.agents.tools import RecordStore, ToolRegistry
from artagent.events import utc_now
from artagent.providers import ModelProvider
from artagent.session.conversation import Conversation, SingleAgent

__all__ = ["AgentsLayer", "wall_clock_zone"]


def wall_clock_zone(name: str) -> dt.tzinfo:
    """The time zone ``[agents] timezone`` names (empty: this machine's); ValueError naming
    what is wrong."""
    if not name:
        local = dt.datetime.now().astimezone().tzinfo
        return local if local is not None else dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as America/Chicago)") from None


ASSISTANT = AgentDefinition(name="assistant", description="A helpful voice assistant")


@dataclass
class AgentsLayer:
    catalog: AgentCatalog
    tools: ToolRegistry
    routing: ModelRouting
    selector: ScenarioSelector
    store: RecordStore
    now: Callable[[], dt.datetime] = utc_now

    def conversation(
        self,
        *,
        channel: str,
        scenario: str | None = None,
        caller: str | None = None,
        callee: str | None = None,
        resume_greeting: str = "",
        greeting: str = "",
        system_prompt: str = "",
        model: ModelProvider | None = None,
        routed: bool = True,
    ) -> Conversation:
        """The call's agents: the scenario chosen for it, or one plain assistant (``model``, or
        the first available router) when no scenario is installed. Raises
        :class:`~artagent.agents.selection.UnknownScenarioError` for a scenario asked by name
        that does not exist, and :class:`~artagent.agents.routing.RoutingError` when no router can answer.
        ``routed=False``: a realtime mode answers the call with its own model, so no router is
        needed (nor checked)."""
        chosen = self.selector.select(channel=channel, callee=callee, requested=scenario)
        if chosen is not None:
            orchestrator = Orchestrator(
                chosen,
                self.catalog,
                self.tools,
                self.routing,
                self.store,
                resume_greeting=resume_greeting,
                caller=caller,
                callee=callee,
                now=self.now,
            )
            for name in chosen.agents if routed else ():  # fail before the caller hears anything
                self.routing.choose(self.catalog.agent(name).definition)
            return orchestrator
        if model is None and routed:
            model = self.routing.choose(ASSISTANT)[1]
        return SingleAgent(
            model, system_prompt=system_prompt, greeting=greeting, resume_greeting=resume_greeting
        )
