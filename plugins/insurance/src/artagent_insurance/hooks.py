"""Hook implementations of the insurance plugin (only hooks live here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from artagent.agents import Tool
from artagent.commands import Command
from artagent.events import Event
from artagent.hookspecs import hookimpl
from redis.asyncio import Redis

AGENTS = Path(__file__).parent / "agents"


@hookimpl
def register_event_types() -> list[type[Event]]:
    from artagent_insurance.claims import ClaimRecorded

    return [ClaimRecorded]


@hookimpl
def register_tools() -> list[Tool]:
    from artagent_insurance.tools import TOOLS

    return TOOLS


@hookimpl
def register_agents() -> list[Path]:
    return [AGENTS]


@hookimpl
def register_routes(redis: Redis) -> list[Any]:
    from artagent_insurance.routes import claims_router

    return [claims_router(redis)]


@hookimpl
def register_commands() -> list[Command]:
    from artagent_insurance.commands import insurance_command

    return [insurance_command()]
