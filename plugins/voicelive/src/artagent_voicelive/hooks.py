"""Hook implementations of the voicelive plugin (only hooks live here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from artagent.hookspecs import hookimpl
from artagent.providers import ProviderSpec

from artagent_voicelive.config import VoiceLiveConfig


@hookimpl
def plugin_config_schema() -> type[VoiceLiveConfig]:
    return VoiceLiveConfig


@hookimpl
def register_providers(config: VoiceLiveConfig, secrets: Mapping[str, str]) -> list[ProviderSpec]:
    def build(settings: Mapping[str, Any]) -> Any:
        from artagent_voicelive.mode import VoiceLiveMode  # websockets only when a call may use it

        return VoiceLiveMode(config, secrets.get("api_key_env"))

    description = f"speech to speech through {config.kind}"
    return [ProviderSpec("realtime", "voicelive", build, description=description)]
