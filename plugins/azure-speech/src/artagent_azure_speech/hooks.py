"""Hook implementations of the Azure Speech plugin (only hooks live here)."""

from __future__ import annotations

from collections.abc import Mapping

from artagent.hookspecs import hookimpl
from artagent.providers import ProviderSpec

from artagent_azure_speech.config import AzureSpeechConfig
from artagent_azure_speech.service import AzureSpeech


@hookimpl
def plugin_config_schema() -> type[AzureSpeechConfig]:
    return AzureSpeechConfig


@hookimpl
def register_providers(config: AzureSpeechConfig, secrets: Mapping[str, str]) -> list[ProviderSpec]:
    """stt ``azure`` and tts ``azure``, once a region, endpoint or host is configured; until
    then nothing, so an install with no Azure account keeps its embedded providers."""
    if not config.configured:
        return []
    return AzureSpeech(config, key=secrets.get("key_env")).specs()
