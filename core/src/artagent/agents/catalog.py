"""The agents and scenarios of a runtime, loaded from the folders plugins register.

A plugin's ``register_agents`` hook returns folders laid out as::

    <folder>/agents/<name>.yaml       one AgentDefinition each
    <folder>/scenarios/<name>.yaml    one ScenarioDefinition each
    <folder>/prompts/...              the Jinja prompt files agents name

Everything is checked when the catalogue loads, so a mistake stops the start-up with the file
and key named instead of surfacing mid-call: YAML and Jinja syntax, duplicate names, tools no
plugin registered, handoffs to agents that do not exist, scenarios whose start agent or edges
are not among their members.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artagent.agents.definitions import AgentDefinition, DefinitionError, ScenarioDefinition, decode_yaml
from artagent.agents.templates import TemplateError, Templates
from artagent.agents.tools import ToolRegistry

__all__ = ["Agent", "AgentCatalog", "CatalogError"]


class CatalogError(ValueError):
    """Every problem found while loading the catalogue, one per line."""

    def __init__(self, problems: list[DefinitionError]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Agent:
    definition: AgentDefinition
    prompt: str
    """The system prompt's template text."""
    owner: str
    """The plugin that registered it."""

    @property
    def name(self) -> str:
        return self.definition.name


class AgentCatalog:
    """Agents and scenarios by name, checked against each other and against the tools."""

    def __init__(self, templates: Templates | None = None) -> None:
        self.templates = templates or Templates()
        self.agents: dict[str, Agent] = {}
        self.scenarios: dict[str, ScenarioDefinition] = {}
        self._owners: dict[str, str] = {}

    @classmethod
    def load(cls, folders: Iterable[tuple[str, Path]], tools: ToolRegistry) -> AgentCatalog:
        """Read every folder (``(plugin, path)``); raises :class:`CatalogError` listing all the
        problems found."""
        catalog, problems = cls(), []
        for owner, folder in folders:
            problems += catalog._read_folder(owner, Path(folder))
        problems += catalog._check(tools)
        if problems:
            raise CatalogError(problems)
        return catalog

    # -- reading -----------------------------------------------------------------------------
    def _read_folder(self, owner: str, folder: Path) -> list[DefinitionError]:
        problems: list[DefinitionError] = []
        if not folder.is_dir():
            return [DefinitionError(str(folder), "", f"agent folder registered by {owner} does not exist")]
        for path in sorted((folder / "agents").glob("*.yaml")):
            try:
                self._add_agent(owner, folder, path)
            except DefinitionError as exc:
                problems.append(exc)
        for path in sorted((folder / "scenarios").glob("*.yaml")):
            try:
                self._add_scenario(owner, path)
            except DefinitionError as exc:
                problems.append(exc)
        return problems

    def _add_agent(self, owner: str, folder: Path, path: Path) -> None:
        source = _shown(path)
        definition: AgentDefinition = decode_yaml(path.read_text(encoding="utf-8"), AgentDefinition, source)
        if definition.name in self.agents:
            other = self.agents[definition.name].definition.source
            raise DefinitionError(source, "name", f"agent {definition.name!r} is also defined in {other}")
        prompt = ""
        if definition.prompt:
            prompt_path = (folder / definition.prompt).resolve()
            if not prompt_path.is_file():
                raise DefinitionError(
                    source, "prompt", f"prompt file {definition.prompt} not found in {folder}"
                )
            prompt = prompt_path.read_text(encoding="utf-8")
            self._compile(_shown(prompt_path), "", prompt)
        for key, text in _templates(definition):
            self._compile(source, key, text)
        self.agents[definition.name] = Agent(definition, prompt, owner)

    def _add_scenario(self, owner: str, path: Path) -> None:
        source = _shown(path)
        scenario: ScenarioDefinition = decode_yaml(
            path.read_text(encoding="utf-8"), ScenarioDefinition, source
        )
        if scenario.name in self.scenarios:
            other = self.scenarios[scenario.name].source
            raise DefinitionError(source, "name", f"scenario {scenario.name!r} is also defined in {other}")
        self.scenarios[scenario.name] = scenario
        self._owners[scenario.name] = owner

    def _compile(self, source: str, key: str, text: str) -> None:
        try:
            self.templates.compile(text)
        except TemplateError as exc:
            raise DefinitionError(source, key, str(exc)) from None

    # -- checking ----------------------------------------------------------------------------
    def _check(self, tools: ToolRegistry) -> list[DefinitionError]:
        problems: list[DefinitionError] = []
        for agent in self.agents.values():
            problems += self._check_agent(agent.definition, tools)
        for scenario in self.scenarios.values():
            problems += self._check_scenario(scenario)
        return problems

    def _check_agent(self, agent: AgentDefinition, tools: ToolRegistry) -> list[DefinitionError]:
        problems = []
        for key, name in _tool_references(agent):
            if name not in tools:
                known = ", ".join(tools.names()) or "none registered"
                problems.append(DefinitionError(agent.source, key, f"unknown tool {name!r} (tools: {known})"))
        for index, handoff in enumerate(agent.handoffs):
            if handoff.to not in self.agents:
                problems.append(
                    DefinitionError(agent.source, f"handoffs[{index}].to", f"unknown agent {handoff.to!r}")
                )
        if agent.form is not None:
            names = [f.name for f in agent.form.fields]
            for index, field in enumerate(agent.form.fields):
                if names.count(field.name) > 1:
                    problems.append(
                        DefinitionError(agent.source, f"form.fields[{index}].name", "duplicate field name")
                    )
                if field.type == "choice" and not (field.choices or field.options):
                    problems.append(
                        DefinitionError(
                            agent.source, f"form.fields[{index}].choices", "a choice needs choices"
                        )
                    )
                if field.when is not None and field.when not in names:
                    problems.append(
                        DefinitionError(
                            agent.source, f"form.fields[{index}].when", f"no field {field.when!r}"
                        )
                    )
        return problems

    def _check_scenario(self, scenario: ScenarioDefinition) -> list[DefinitionError]:
        problems, source = [], scenario.source
        for index, name in enumerate(scenario.agents):
            if name not in self.agents:
                problems.append(DefinitionError(source, f"agents[{index}]", f"unknown agent {name!r}"))
        if scenario.start not in scenario.agents:
            problems.append(
                DefinitionError(source, "start", f"{scenario.start!r} is not one of the scenario's agents")
            )
        members = set(scenario.agents)
        for index, edge in enumerate(scenario.handoffs):
            ends: list[tuple[str, str | None]] = [("to", edge.to), ("from", edge.from_)]
            for key, member in ends:
                if member is None or member in members:
                    continue
                reason = (
                    f"{member!r} is not one of the scenario's agents"
                    if member in self.agents
                    else f"unknown agent {member!r}"
                )
                problems.append(DefinitionError(source, f"handoffs[{index}].{key}", reason))
        for name in scenario.agents:
            agent = self.agents.get(name)
            for index, handoff in enumerate(agent.definition.handoffs if agent else []):
                if handoff.to in self.agents and handoff.to not in members:
                    problems.append(
                        DefinitionError(
                            source,
                            "agents",
                            f"{name} hands off to {handoff.to!r} ({agent.definition.source if agent else ''}"
                            f": handoffs[{index}]), which is not one of the scenario's agents",
                        )
                    )
        return problems

    # -- reading the catalogue ---------------------------------------------------------------
    def agent(self, name: str) -> Agent:
        return self.agents[name]

    def owner(self, scenario: str) -> str:
        return self._owners[scenario]

    def describe(self, tools: ToolRegistry) -> dict[str, Any]:
        """The catalogue as plain data (``artagent agents --json``, ``GET /api/v1/agents``)."""
        return {
            "agents": [_describe_agent(a) for a in self.agents.values()],
            "scenarios": [
                {
                    "name": s.name,
                    "description": s.description,
                    "start": s.start,
                    "agents": s.agents,
                    "handoffs": [
                        {"from": e.from_, "to": e.to, "type": e.type, "context": e.context}
                        for e in s.handoffs
                    ],
                    "plugin": self._owners[s.name],
                }
                for s in self.scenarios.values()
            ],
        }


def _describe_agent(agent: Agent) -> dict[str, Any]:
    d = agent.definition
    return {
        "name": d.name,
        "description": d.description,
        "plugin": agent.owner,
        "tools": d.tools,
        "handoffs": [h.to for h in d.handoffs],
        "form": [f.name for f in d.form.fields] if d.form else [],
        "model": {
            "router": list(d.model.routers()),
            "model": d.model.model,
            "temperature": d.model.temperature,
            "top_p": d.model.top_p,
            "max_tokens": d.model.max_tokens,
        },
        "voice": None
        if d.voice is None
        else {"name": d.voice.name, "style": d.voice.style, "rate": d.voice.rate},
    }


def _templates(agent: AgentDefinition) -> Iterator[tuple[str, str]]:
    """(dotted key, template) for every template in an agent definition."""
    yield "greeting", agent.greeting
    yield "return_greeting", agent.return_greeting
    yield "fallback", agent.fallback
    for name in agent.phrases.__struct_fields__:
        yield f"phrases.{name}", getattr(agent.phrases, name)
    if agent.form is not None:
        for index, field in enumerate(agent.form.fields):
            yield f"form.fields[{index}].ask", field.ask
            yield f"form.fields[{index}].options_say", field.options_say
        yield "form.confirm", agent.form.confirm
        yield "form.done", agent.form.done
        yield "form.failed", agent.form.failed
    for group in ("knowledge", "escalations"):
        for index, intent in enumerate(getattr(agent, group)):
            yield f"{group}[{index}].say", intent.say
            for key, text in intent.arguments.items():
                yield f"{group}[{index}].arguments.{key}", text


def _tool_references(agent: AgentDefinition) -> Iterator[tuple[str, str]]:
    for index, name in enumerate(agent.tools):
        yield f"tools[{index}]", name
    if agent.form is not None:
        if agent.form.tool:
            yield "form.tool", agent.form.tool
        if agent.form.escalate:
            yield "form.escalate", agent.form.escalate
    for group in ("knowledge", "escalations"):
        for index, intent in enumerate(getattr(agent, group)):
            if intent.tool:
                yield f"{group}[{index}].tool", intent.tool


def _shown(path: Path) -> str:
    """A definition file as errors name it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
