"""Agent and scenario definitions: a mistake stops the loading with the file and key named;
tools get their JSON schema from their Struct; routing falls back; scenarios are chosen by
number, then channel, then default."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import msgspec
import pytest
from _agents_kit import KIT, call_human, look_up
from artagent.agents.catalog import AgentCatalog, CatalogError
from artagent.agents.definitions import AgentDefinition, DefinitionError, decode_yaml
from artagent.agents.routing import ModelRouting, RoutingError
from artagent.agents.selection import ScenarioSelector, UnknownScenarioError
from artagent.agents.templates import Templates, spell
from artagent.agents.tools import ToolContext, ToolRegistry, tool
from artagent.config import AgentsConfig, ConfigError
from artagent.providers import ProviderRegistry, ProviderSpec

TOOLS = ToolRegistry([("test", look_up), ("test", call_human)])


def kit_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "kit"
    shutil.copytree(KIT, folder)
    return folder


def write(folder: Path, relative: str, text: str) -> None:
    (folder / relative).write_text(textwrap.dedent(text))


def problems(folder: Path) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        AgentCatalog.load([("test", folder)], TOOLS)
    return [str(p) for p in caught.value.problems]


def test_the_kit_loads_and_describes_itself() -> None:
    catalog = AgentCatalog.load([("test", KIT)], TOOLS)
    described = catalog.describe(TOOLS)
    assert [a["name"] for a in described["agents"]] == ["billing", "reception", "support"]
    [scenario] = described["scenarios"]
    assert scenario["start"] == "reception" and scenario["plugin"] == "test"
    reception = next(a for a in described["agents"] if a["name"] == "reception")
    assert reception["handoffs"] == ["billing", "support"] and reception["model"]["temperature"] == 0.2


@pytest.mark.parametrize(
    ("relative", "text", "expected"),
    [
        (
            "agents/support.yaml",
            "name: support\nform:\n  fields:\n    - {name: when, type: sometime}\n",
            "agents/support.yaml: form.fields[0].type: Invalid enum value 'sometime'",
        ),
        ("agents/support.yaml", "name: support\ncolour: blue\n", "agents/support.yaml: colour: unknown key"),
        (
            "agents/support.yaml",
            "name: support\n  greeting: [oops\n",
            "agents/support.yaml: line 2: not valid YAML",
        ),
        (
            "agents/support.yaml",
            "name: Support Desk\n",
            "agents/support.yaml: name: Expected `str` matching regex",
        ),
        (
            "agents/support.yaml",
            "name: support\nprompt: prompts/missing.jinja\n",
            "agents/support.yaml: prompt: prompt file prompts/missing.jinja not found",
        ),
        (
            "agents/support.yaml",
            "name: support\ngreeting: 'Hi {{ fields.name '\n",
            "agents/support.yaml: greeting: template error on line 1",
        ),
        (
            "agents/support.yaml",
            "name: support\nhandoffs: [{to: sales}]\n",
            "agents/support.yaml: handoffs[0].to: unknown agent 'sales'",
        ),
        (
            "agents/support.yaml",
            "name: support\nphrases: {mised: Pardon}\n",
            "agents/support.yaml: phrases.mised: unknown key",
        ),
        (
            "agents/support.yaml",
            "name: support\nphrases: {options: 'Pick {{ options '}\n",
            "agents/support.yaml: phrases.options: template error on line 1",
        ),
        (
            "agents/support.yaml",
            "name: support\ntools: [send_fax]\n",
            "agents/support.yaml: tools[0]: unknown tool 'send_fax' (tools: call_human, look_up)",
        ),
        (
            "scenarios/acme.yaml",
            "name: acme\nstart: sales\nagents: [reception, billing, support]\n",
            "scenarios/acme.yaml: start: 'sales' is not one of the scenario's agents",
        ),
        (
            "scenarios/acme.yaml",
            "name: acme\nstart: reception\nagents: [reception, billing, support]\n"
            "handoffs: [{from: reception, to: sales}]\n",
            "scenarios/acme.yaml: handoffs[0].to: unknown agent 'sales'",
        ),
        (
            "scenarios/acme.yaml",
            "name: acme\nstart: reception\nagents: [reception, billing]\n"
            "handoffs: [{from: billing, to: support}]\n",
            "scenarios/acme.yaml: handoffs[0].to: 'support' is not one of the scenario's agents",
        ),
        (
            "scenarios/acme.yaml",
            "name: acme\nstart: reception\nagents: [reception, billing, support]\n"
            "handoffs: [{from: reception, to: billing, type: loud}]\n",
            "scenarios/acme.yaml: handoffs[0].type: Invalid enum value 'loud'",
        ),
        (
            "scenarios/acme.yaml",
            "name: acme\nstart: reception\nagents: [reception, billing]\n",
            "scenarios/acme.yaml: agents: reception hands off to 'support'",
        ),
    ],
)
def test_a_mistake_names_its_file_and_key(tmp_path: Path, relative: str, text: str, expected: str) -> None:
    folder = kit_copy(tmp_path)
    write(folder, relative, text)
    found = problems(folder)
    assert any(expected in p for p in found), found


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    folder = kit_copy(tmp_path)
    write(folder, "agents/support.yaml", "name: support\ntools: [fax]\nhandoffs: [{to: nobody}]\n")
    assert len(problems(folder)) == 2


def test_the_same_agent_in_two_plugins_is_an_error_naming_both(tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / "agents").mkdir(parents=True)
    write(other, "agents/support.yaml", "name: support\n")
    with pytest.raises(CatalogError, match="agent 'support' is also defined in"):
        AgentCatalog.load([("test", KIT), ("other", other)], TOOLS)


def test_decode_yaml_names_nested_keys() -> None:
    with pytest.raises(DefinitionError) as caught:
        decode_yaml("name: a\nmodel: {temperature: 3}\n", AgentDefinition, "a.yaml")
    assert str(caught.value) == "a.yaml: model.temperature: Expected `float` <= 2.0"


# -- tools -------------------------------------------------------------------------------------
def test_a_tool_needs_an_async_function_taking_a_struct() -> None:
    with pytest.raises(TypeError, match="must be an async function"):
        tool(lambda args, ctx: None)

    async def untyped(args: dict[str, Any], ctx: ToolContext) -> None: ...

    with pytest.raises(TypeError, match="annotated with a msgspec Struct"):
        tool(untyped)


def test_two_tools_of_one_name_are_an_error_naming_the_owner() -> None:
    with pytest.raises(ValueError, match="tool 'look_up' is already registered by first"):
        ToolRegistry([("first", look_up), ("second", look_up)])


class Place(msgspec.Struct):
    city: str


class Trip(msgspec.Struct):
    to: Place
    passengers: int = 1


def test_nested_structs_keep_their_definitions_in_the_schema() -> None:
    @tool(name="book", description="Book a trip")
    async def book(args: Trip, ctx: ToolContext) -> str:
        return "ok"

    schema = book.spec().parameters
    assert schema["properties"]["to"] == {"$ref": "#/$defs/Place"}
    assert schema["$defs"]["Place"]["required"] == ["city"]
    assert schema["required"] == ["to"]


# -- templates, routing, selection -------------------------------------------------------------
def test_spell_reads_identifiers_character_by_character() -> None:
    assert spell("CLA-2026-000123") == "C L A, 2 0 2 6, 0 0 0 1 2 3"


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("2026-11-29T15:00-06:00", "Sunday, November 29, 2026 at 3 PM"),
        ("2026-11-29T09:30", "Sunday, November 29, 2026 at 9:30 AM"),
        ("2026-11-29T00:05", "Sunday, November 29, 2026 at 12:05 AM"),
        ("2026-11-29T12:00", "Sunday, November 29, 2026 at 12 PM"),
        ("2026-11-29", "Sunday, November 29, 2026"),  # a date alone: no time made up
    ],
)
def test_dates_and_times_are_written_to_be_said(value: str, said: str) -> None:
    template = "{{ when | spoken_date }}{% set at = when | spoken_time %}{{ ' at ' ~ at if at }}"
    assert Templates().render(template, {"when": value}) == said


class Router:
    def __init__(self, reason: str | None) -> None:
        self.reason = reason

    def unavailable(self) -> str | None:
        return self.reason

    def stream(self, request: Any) -> Any:
        raise NotImplementedError


def test_routing_takes_the_first_available_router_and_explains_when_none_is() -> None:
    registry = ProviderRegistry()
    registry.add(ProviderSpec("model", "openai", lambda _: Router("OPENAI_API_KEY is not set")), owner="o")
    registry.add(ProviderSpec("model", "flows", lambda _: Router(None)), owner="f")
    agent = AgentDefinition(name="a")
    assert ModelRouting(registry, ["openai", "flows"]).choose(agent)[0] == "flows"
    with pytest.raises(RoutingError) as caught:
        ModelRouting(registry, ["azure", "openai"]).choose(agent)
    assert str(caught.value) == (
        "agent a: no model router can answer (azure: not installed; openai: OPENAI_API_KEY is not set)"
    )
    own = msgspec.convert({"name": "b", "model": {"router": "flows"}}, AgentDefinition)
    assert ModelRouting(registry, ["openai"]).choose(own)[0] == "flows"


def test_routing_per_agent_replaces_the_yaml_and_the_default_list() -> None:
    registry = ProviderRegistry()
    registry.add(ProviderSpec("model", "openai", lambda _: Router("OPENAI_API_KEY is not set")), owner="o")
    registry.add(ProviderSpec("model", "flows", lambda _: Router(None)), owner="f")
    registry.add(ProviderSpec("model", "local", lambda _: Router(None)), owner="l")
    routing = ModelRouting(registry, ["local"], {"claims": ["openai", "flows"], "desk": ["openai"]})
    claims = msgspec.convert({"name": "claims", "model": {"router": "local"}}, AgentDefinition)
    assert routing.candidates(claims) == ["openai", "flows"]  # the YAML's router is not consulted
    assert routing.choose(claims)[0] == "flows"  # the fallback, named last
    other = msgspec.convert({"name": "other", "model": {"router": "flows"}}, AgentDefinition)
    assert routing.candidates(other) == ["flows", "local"]  # not named: YAML, then [agents] routers
    with pytest.raises(RoutingError, match=r"agent desk: no model router can answer \(openai: OPENAI_API"):
        routing.choose(AgentDefinition(name="desk"))  # its list is all it has
    routing.reroute("desk", ["local"])  # PUT /api/v1/agents/desk
    assert routing.choose(AgentDefinition(name="desk"))[0] == "local"
    assert routing.status([claims, other]) == {"claims": "flows", "other": "flows"}


def test_routing_per_agent_is_checked_against_what_is_installed() -> None:
    registry = ProviderRegistry()
    registry.add(ProviderSpec("model", "flows", lambda _: Router(None)), owner="f")
    routing = ModelRouting(registry, [], {"claims": ["flows", "gpt9"], "sales": ["flows"], "desk": []})
    assert [str(i) for i in routing.check({"claims", "desk"})] == [
        "agents.routing.claims[1]: no model router named 'gpt9' is installed (flows)",
        "agents.routing.sales: no agent named 'sales' (agents: claims, desk)",
        "agents.routing.desk: name at least one model router",
    ]


def test_scenarios_are_chosen_by_number_then_channel_then_default(tmp_path: Path) -> None:
    folder = kit_copy(tmp_path)
    write(folder, "scenarios/night.yaml", "name: night\nstart: support\nagents: [support]\n")
    catalog = AgentCatalog.load([("test", folder)], TOOLS)
    config = AgentsConfig(scenario="acme", channels={"browser": "night"}, numbers={"+15550001": "night"})
    selector = ScenarioSelector(config, catalog)

    def chosen(**kw: Any) -> str | None:
        found = selector.select(**kw)
        return found.name if found else None

    assert chosen(channel="acs", callee="+15550001") == "night"
    assert chosen(channel="browser") == "night"
    assert chosen(channel="acs", callee="+15559999") == "acme"
    assert chosen(channel="acs", requested="acme") == "acme"
    with pytest.raises(UnknownScenarioError, match="no scenario named 'sales' \\(scenarios: acme, night\\)"):
        selector.select(channel="acs", requested="sales")


def test_agents_config_naming_a_missing_scenario_is_an_error_on_its_key(tmp_path: Path) -> None:
    folder = kit_copy(tmp_path)
    write(folder, "scenarios/night.yaml", "name: night\nstart: support\nagents: [support]\n")
    catalog = AgentCatalog.load([("test", folder)], TOOLS)
    with pytest.raises(ConfigError) as caught:
        ScenarioSelector(AgentsConfig(scenario="day", numbers={"+1555": "dusk"}), catalog)
    assert [(i.path, i.message) for i in caught.value.issues] == [
        ("agents.scenario", "no scenario named 'day' (scenarios: acme, night)"),
        ('agents.numbers."+1555"', "no scenario named 'dusk' (scenarios: acme, night)"),
    ]
    with pytest.raises(
        ConfigError, match="several scenarios are installed \\(acme, night\\): name the default"
    ):
        ScenarioSelector(AgentsConfig(), catalog)


def test_the_wall_clock_time_zone_is_checked_at_start_up(make_config: Any) -> None:
    from artagent.runtime import Runtime

    with pytest.raises(ConfigError) as caught:
        Runtime(make_config('[agents]\ntimezone = "Mars/Olympus"\n'))
    assert str(caught.value) == (
        "test.toml: agents.timezone: unknown time zone 'Mars/Olympus' (an IANA name such as America/Chicago)"
    )
    runtime = Runtime(make_config('[agents]\ntimezone = "America/Chicago"\n'))
    assert str(runtime.agents.now().tzinfo) == "America/Chicago"
