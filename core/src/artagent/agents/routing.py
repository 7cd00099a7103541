"""Which model router answers for an agent.

An agent's YAML may name routers (``model.router``); after those, ``[agents] routers`` gives
the runtime's order of preference. ``[agents.routing]`` overrides both for the agents it
names: that list, in order, is the agent's whole choice (the operator's word over the plugin
author's). The first router that is installed and available answers: a router that cannot
serve (no key configured, say) tells why through ``unavailable()``, so the usual set-up
"OpenAI when a key is configured, otherwise the offline flows" needs no code.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from artagent.agents.definitions import AgentDefinition
from artagent.config import ConfigIssue
from artagent.providers import ModelProvider, ProviderRegistry, SupportsWarmUp

__all__ = ["ModelRouting", "RoutingError"]


class RoutingError(LookupError):
    """No router can answer for an agent; the message says what each candidate lacked."""


class ModelRouting:
    def __init__(
        self,
        registry: ProviderRegistry,
        preferred: Sequence[str],
        per_agent: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._registry = registry
        self._preferred = tuple(preferred)
        self._per_agent = {agent: tuple(names) for agent, names in (per_agent or {}).items()}
        self._instances: dict[str, Any] = {}

    def candidates(self, agent: AgentDefinition) -> list[str]:
        """The routers that may answer ``agent``, in the order they are tried."""
        if agent.name in self._per_agent:
            return list(self._per_agent[agent.name])
        names: list[str] = []
        for name in (*agent.model.routers(), *self._preferred):
            if name not in names:
                names.append(name)
        return names

    def reroute(self, agent: str, routers: Sequence[str]) -> None:
        """Routers changed at run time (``PUT /api/v1/agents/{name}``): for an agent that
        ``[agents.routing]`` names, they replace that entry (the latest word wins)."""
        if agent in self._per_agent:
            self._per_agent[agent] = tuple(routers)

    def check(self, agents: Collection[str]) -> list[ConfigIssue]:
        """``[agents.routing]`` against the agents and routers installed, one issue per mistake."""
        installed = self.installed()
        issues: list[ConfigIssue] = []
        for agent, routers in self._per_agent.items():
            key = f"agents.routing.{agent}"
            if agent not in agents:
                known = ", ".join(sorted(agents)) or "none installed"
                issues.append(ConfigIssue(key, f"no agent named {agent!r} (agents: {known})"))
            if not routers:
                issues.append(ConfigIssue(key, "name at least one model router"))
            for index, name in enumerate(routers):
                if name not in installed:
                    listed = ", ".join(installed) or "none"
                    problem = f"no model router named {name!r} is installed ({listed})"
                    issues.append(ConfigIssue(f"{key}[{index}]", problem))
        return issues

    def installed(self) -> list[str]:
        return self._registry.names("model")

    def instance(self, name: str) -> Any | None:
        """The router ``name`` (built once), or ``None`` when no plugin registered it."""
        if name not in self._instances:
            if name not in self._registry.names("model"):
                return None
            self._instances[name] = self._registry.create("model", name, {})
        return self._instances[name]

    def choose(self, agent: AgentDefinition) -> tuple[str, ModelProvider]:
        """(router name, router) for ``agent``; :class:`RoutingError` says why none fits."""
        tried: list[str] = []
        for name in self.candidates(agent):
            router = self.instance(name)
            if router is None:
                tried.append(f"{name}: not installed")
                continue
            reason = _unavailable(router)
            if reason is None:
                return name, router
            tried.append(f"{name}: {reason}")
        listed = "; ".join(tried) or "no router named ([agents] routers is empty)"
        raise RoutingError(f"agent {agent.name}: no model router can answer ({listed})")

    def status(self, agents: Sequence[AgentDefinition]) -> dict[str, str]:
        """Agent -> the router that answers it now, or why none can (for ``artagent agents``)."""
        found: dict[str, str] = {}
        for agent in agents:
            try:
                found[agent.name] = self.choose(agent)[0]
            except RoutingError as exc:
                found[agent.name] = f"unavailable: {exc}"
        return found

    def warming_up(self, agents: Sequence[AgentDefinition]) -> list[str]:
        """The routers that would answer these agents now and have a ``warm_up`` to await,
        each named once. An agent no router can answer is left to fail at its call, as it
        would without a warm-up."""
        names: list[str] = []
        for agent in agents:
            try:
                name, router = self.choose(agent)
            except RoutingError:
                continue
            if name not in names and isinstance(router, SupportsWarmUp):
                names.append(name)
        return names

    async def warm_up(self, names: Sequence[str]) -> None:
        """Warm up these routers (from :meth:`warming_up`), so that a router's first call does
        no loading on the event loop: the offline engine's date understanding compiles hundreds
        of patterns the first time, a few hundred milliseconds in which every call on the worker
        would stall."""
        for name in names:
            router = self.instance(name)
            if isinstance(router, SupportsWarmUp):
                await router.warm_up()


def _unavailable(router: Any) -> str | None:
    check = getattr(router, "unavailable", None)
    return check() if callable(check) else None
