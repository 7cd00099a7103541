"""Hook implementations of the ACS channel plugin (only hooks live here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from artagent.commands import Command
from artagent.events import Event
from artagent.hookspecs import hookimpl
from redis.asyncio import Redis

from artagent_acs.config import AcsConfig


@hookimpl
def plugin_config_schema() -> type[AcsConfig]:
    return AcsConfig


@hookimpl
def register_event_types() -> list[type[Event]]:
    from artagent_acs.events import AcsMediaStreamingChanged, AcsPlayCompleted

    return [AcsMediaStreamingChanged, AcsPlayCompleted]


@hookimpl
def register_routes(config: AcsConfig, secrets: Mapping[str, str], redis: Redis) -> list[Any]:
    from artagent_acs.routes import acs_routes
    from artagent_acs.service import AcsService

    return [acs_routes(AcsService(config, secrets, redis))]


@hookimpl
def register_commands() -> list[Command]:
    from artagent_acs.simulator.command import call_command

    return [call_command()]
