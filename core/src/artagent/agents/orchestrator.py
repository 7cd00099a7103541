"""The orchestrator: the agents of one scenario taking turns on one call.

It is the session's :class:`~artagent.session.conversation.Conversation` and its
:class:`~artagent.session.tools.ToolRunner`. Each model request goes to the active agent: its
system prompt (Jinja, rendered with the call's context), its tools plus one ``handoff_to_<agent>``
tool per handoff it may make, its model settings, routed to the first available model router.
A handoff switches the active agent (and so the voice and the prompt) in the middle of the
reply: an ``announced`` handoff has the new agent say its greeting, a ``discrete`` one has it
simply answer; the edge's context policy decides how much of the conversation the new agent
sees. Everything the orchestrator keeps between turns lives in ``SessionState.memory``, so a
call resumed on another worker goes on with the same agent and the same view of the call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from artagent.agents.catalog import Agent, AgentCatalog
from artagent.agents.definitions import ScenarioDefinition
from artagent.agents.routing import ModelRouting
from artagent.agents.tools import RecordStore, ToolContext, ToolRegistry
from artagent.events import AgentHandoff, Event, utc_now
from artagent.providers import AgentContext, ModelProvider, ModelRequest, ToolCallRequest, ToolSpec, VoiceSpec
from artagent.session.conversation import CallHandle
from artagent.session.state import Message
from artagent.session.tools import CallControl, ToolResult

__all__ = ["HANDOFF_PREFIX", "Orchestrator"]

HANDOFF_PREFIX = "handoff_to_"
E = TypeVar("E", bound=Event)


class Orchestrator:
    """One call's agents. Built per call by the launcher; bound to the session at its start."""

    def __init__(
        self,
        scenario: ScenarioDefinition,
        catalog: AgentCatalog,
        tools: ToolRegistry,
        routing: ModelRouting,
        store: RecordStore,
        *,
        resume_greeting: str = "",
        caller: str | None = None,
        callee: str | None = None,
        now: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.scenario, self.catalog, self.registry = scenario, catalog, tools
        self.routing, self.store = routing, store
        self._resume_greeting, self._caller, self._callee, self._now = resume_greeting, caller, callee, now
        self._call: CallHandle | None = None
        self._pending: list[str] = []

    # -- the call ----------------------------------------------------------------------------
    def bind(self, call: CallHandle) -> None:
        self._call = call
        state = call.state
        state.scenario = self.scenario.name
        if not state.active_agent or state.active_agent not in self.scenario.agents:
            state.active_agent = self.scenario.start
        self._book().setdefault("visited", [])

    @property
    def call(self) -> CallHandle:
        if self._call is None:
            raise RuntimeError("the orchestrator is not bound to a call yet")
        return self._call

    @property
    def agent(self) -> str:
        if self._call is None:
            return self.scenario.start
        return self._call.state.active_agent or self.scenario.start

    def _active(self) -> Agent:
        return self.catalog.agent(self.agent)

    @property
    def voice(self) -> VoiceSpec | None:
        return self._active().definition.voice

    @property
    def tools(self) -> Orchestrator:
        return self

    def opening(self, *, resumed: bool) -> str:
        definition = self._active().definition
        if resumed:
            return self._resume_greeting or self.render(definition.return_greeting)
        self._visit(definition.name)
        return self.render(definition.greeting)

    def announcements(self) -> list[str]:
        pending, self._pending = self._pending, []
        return pending

    # -- model requests ----------------------------------------------------------------------
    def request(self, messages: Sequence[Message]) -> tuple[ModelProvider, ModelRequest]:
        _, model = self.routing.choose(self._active().definition)
        return model, self.describe(messages)

    def describe(self, messages: Sequence[Message]) -> ModelRequest:
        agent = self._active()
        definition = agent.definition
        arrival = self._arrival(definition.name, len(messages))
        system = Message(role="system", content=self.render_block(agent.prompt or definition.description))
        window = self._window(messages, arrival)
        notes: list[Message] = []
        arrived = arrival.pop("pending", None)
        if arrived == "announced" and arrival.get("greeting"):
            notes.append(
                Message(
                    role="system",
                    content=f'You have just taken over the call and said: "{arrival["greeting"]}". '
                    "Go on from there without greeting the caller again.",
                )
            )
        context = AgentContext(
            call_id=self.call.call_id,
            agent=definition.name,
            definition=definition,
            fields=self.call.state.fields,
            memory=self._book().setdefault("routers", {}).setdefault(definition.name, {}),
            arrived=arrived,
            handoff_tools={h.to: HANDOFF_PREFIX + h.to for h in self._handoffs(agent)},
            render=self.render,
            now=self._now,
        )
        settings = definition.model
        return ModelRequest(
            messages=[system, *window, *notes],
            tools=tuple(self.specs()),
            model=settings.model,
            temperature=settings.temperature,
            top_p=settings.top_p,
            max_tokens=settings.max_tokens,
            context=context,
        )

    def _arrival(self, agent: str, position: int) -> dict[str, Any]:
        """Where ``agent`` took the call: a handoff records it, the next request fixes the
        position (everything before it is what the agent was handed)."""
        arrivals: dict[str, dict[str, Any]] = self._book().setdefault("arrivals", {})
        arrival = arrivals.setdefault(agent, {"index": 0, "context": "share"})
        if arrival.get("index") is None:
            arrival["index"] = position
        return arrival

    def _window(self, messages: Sequence[Message], arrival: Mapping[str, Any]) -> list[Message]:
        policy, index = arrival.get("context", "share"), int(arrival.get("index") or 0)
        if policy == "share" or index == 0:
            return list(messages)
        before, after = messages[:index], list(messages[index:])
        last_said = [m for m in before if m.role == "user"][-1:]
        if policy == "reset":
            return [*last_said, *after]
        return [Message(role="system", content=self._summary(before)), *last_said, *after]

    def _summary(self, before: Sequence[Message]) -> str:
        fields = self.call.state.fields
        known = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in fields.items() if not k.startswith("_"))
        agents = [m.agent for m in before if m.role == "assistant" and m.agent]
        spoke = ", ".join(dict.fromkeys(agents)) or "nobody"
        return f"Summary of the call so far (the caller spoke with {spoke}). Known: {known or 'nothing yet'}."

    # -- tools -------------------------------------------------------------------------------
    def _handoffs(self, agent: Agent) -> list[Any]:
        members = set(self.scenario.agents)
        return [h for h in agent.definition.handoffs if h.to in members]

    def _allowed(self, agent: Agent) -> list[str]:
        d = agent.definition
        names = list(d.tools)
        if d.form is not None:
            names += [n for n in (d.form.tool, d.form.escalate) if n]
        names += [i.tool for i in (*d.knowledge, *d.escalations) if i.tool]
        return list(dict.fromkeys(names))

    def specs(self) -> list[ToolSpec]:
        agent = self._active()
        specs = [self.registry.get(name).spec() for name in self._allowed(agent)]
        for handoff in self._handoffs(agent):
            target = self.catalog.agent(handoff.to).definition
            specs.append(
                ToolSpec(
                    name=HANDOFF_PREFIX + handoff.to,
                    description=handoff.when or f"Hand the call to {handoff.to}: {target.description}",
                    parameters={
                        "type": "object",
                        "properties": {"reason": {"type": "string", "description": "Why, in a few words"}},
                    },
                )
            )
        return specs

    async def run(self, call: ToolCallRequest, control: CallControl) -> ToolResult:
        agent = self._active()
        if call.name.startswith(HANDOFF_PREFIX):
            return self._handoff(
                agent, call.name.removeprefix(HANDOFF_PREFIX), str(call.arguments.get("reason", ""))
            )
        if call.name not in self._allowed(agent):
            return ToolResult(ok=False, content={"error": f"{call.name} is not one of {agent.name}'s tools"})
        context = ToolContext(
            call_id=self.call.call_id,
            agent=agent.name,
            fields=self.call.state.fields,
            store=self.store,
            actions=self.call,
            now=self._now,
            scenario=self.scenario.name,
        )
        return await self.registry.run(call, context)

    def _handoff(self, agent: Agent, target: str, reason: str) -> ToolResult:
        if target not in [h.to for h in self._handoffs(agent)]:
            return ToolResult(ok=False, content={"error": f"{agent.name} cannot hand the call to {target}"})
        edge = self.scenario.edge(agent.name, target)
        self.call.emit(AgentHandoff, from_agent=agent.name, to_agent=target, reason=reason, kind=edge.type)
        book = self._book()
        returning = target in book["visited"]
        self.call.state.active_agent = target
        self._visit(target)
        arrival: dict[str, Any] = {"index": None, "context": edge.context, "pending": edge.type}
        if edge.type == "announced":
            definition = self.catalog.agent(target).definition
            greeting = self.render((returning and definition.return_greeting) or definition.greeting)
            if greeting:
                self._pending.append(greeting)
                arrival["greeting"] = greeting
        book.setdefault("arrivals", {})[target] = arrival
        return ToolResult(content={"handed_off_to": target})

    # -- templates and memory ----------------------------------------------------------------
    def template_context(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        state = self.call.state if self._call is not None else None
        context: dict[str, Any] = {
            "fields": dict(state.fields) if state else {},
            "agent": self.agent,
            "scenario": self.scenario.name,
            "call_id": state.call_id if state else "",
            "caller": self._caller,
            "callee": self._callee,
            "now": self._now(),
            "agents": {
                name: self.catalog.agent(name).definition.description for name in self.scenario.agents
            },
        }
        context.update(extra or {})
        return context

    def render(self, template: str, extra: Mapping[str, Any] | None = None) -> str:
        return self.catalog.templates.render(template, self.template_context(extra))

    def render_block(self, template: str) -> str:
        return self.catalog.templates.render_block(template, self.template_context())

    def _book(self) -> dict[str, Any]:
        memory = self.call.state.memory
        book: dict[str, Any] = memory.setdefault("orchestrator", {})
        return book

    def _visit(self, agent: str) -> None:
        visited: list[str] = self._book().setdefault("visited", [])
        if agent not in visited:
            visited.append(agent)
