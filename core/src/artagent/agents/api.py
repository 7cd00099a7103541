"""HTTP surface of the agents: list them, and change an agent's model or voice while running.

``PUT /api/v1/agents/{name}`` takes effect on the next model request of every call, the ones
in progress included (a router named there also replaces the agent's ``[agents.routing]``
entry); it needs the admin token named by ``[agents] admin_token_env``.
"""

from __future__ import annotations

import hmac
from typing import Any

import msgspec
from litestar import Request, get, put
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.params import FromPath, JSONBody

from artagent.access import operator_guard
from artagent.agents.catalog import Agent
from artagent.agents.definitions import ModelSettings
from artagent.agents.layer import AgentsLayer
from artagent.providers import VoiceSpec

__all__ = ["AgentUpdate", "agent_routes", "describe"]


class AgentUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What may change at run time; a part left out stays as it is."""

    model: ModelSettings | None = None
    voice: VoiceSpec | None = None


def _layer(request: Request[Any, Any, Any]) -> AgentsLayer:
    layer: AgentsLayer = request.app.state.runtime.agents
    return layer


def describe(layer: AgentsLayer) -> dict[str, Any]:
    """Agents, scenarios and tools as plain data (also ``artagent agents --json``)."""
    described = layer.catalog.describe(layer.tools)
    routers = layer.routing.status([a.definition for a in layer.catalog.agents.values()])
    for agent in described["agents"]:
        agent["router_now"] = routers[agent["name"]]
    described["tools"] = [
        {"name": name, "plugin": layer.tools.owner(name), "description": layer.tools.get(name).description}
        for name in layer.tools.names()
    ]
    return described


@get("/api/v1/agents", sync_to_thread=False, tags=["agents"], guards=[operator_guard])
def list_agents(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Every agent (tools, handoffs, model, voice, the router answering it now), every
    scenario and every tool installed."""
    return describe(_layer(request))


@get("/api/v1/agents/{name:str}", sync_to_thread=False, tags=["agents"], guards=[operator_guard])
def get_agent(request: Request[Any, Any, Any], name: FromPath[str]) -> dict[str, Any]:
    """One agent, as in the list."""
    return _described(_layer(request), name)


def _described(layer: AgentsLayer, name: str) -> dict[str, Any]:
    for agent in describe(layer)["agents"]:
        if agent["name"] == name:
            found: dict[str, Any] = agent
            return found
    raise NotFoundException(f"no agent named {name!r}")


def _check_token(request: Request[Any, Any, Any]) -> None:
    runtime = request.app.state.runtime
    expected = runtime.loaded.secret("agents.admin_token_env")
    if not expected:
        raise PermissionDeniedException(
            "agents cannot be changed at run time: [agents] admin_token_env is not set"
        )
    given = request.headers.get("authorization", "")
    token = given.removeprefix("Bearer ").strip() if given.startswith("Bearer ") else ""
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(
            status_code=401, detail="a valid admin token is required (Authorization: Bearer ...)"
        )


@put("/api/v1/agents/{name:str}", sync_to_thread=False, tags=["agents"])
def update_agent(
    request: Request[Any, Any, Any], name: FromPath[str], data: JSONBody[AgentUpdate]
) -> dict[str, Any]:
    """Change an agent's model settings or voice; 401 without the admin token, 404 for an
    unknown agent, 400 naming a router that is not installed."""
    _check_token(request)
    layer = _layer(request)
    agent = layer.catalog.agents.get(name)
    if agent is None:
        raise NotFoundException(f"no agent named {name!r}")
    definition = agent.definition
    if data.model is not None:
        installed = layer.routing.installed()
        unknown = [r for r in data.model.routers() if r not in installed]
        if unknown:
            listed = ", ".join(installed) or "none"
            raise HTTPException(
                status_code=400,
                detail=f"model.router: no model router named {unknown[0]!r} is installed ({listed})",
            )
        definition = msgspec.structs.replace(definition, model=data.model)
        if data.model.router is not None:
            layer.routing.reroute(name, data.model.routers())
    if data.voice is not None:
        definition = msgspec.structs.replace(definition, voice=data.voice)
    layer.catalog.agents[name] = Agent(definition, agent.prompt, agent.owner)
    return _described(layer, name)


def agent_routes() -> list[Any]:
    return [list_agents, get_agent, update_agent]
