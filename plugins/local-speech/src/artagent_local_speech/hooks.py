"""Hook implementations of the local speech plugin (only hooks live here)."""

from __future__ import annotations

from artagent.hookspecs import hookimpl
from artagent.providers import ProviderSpec
from prometheus_client import CollectorRegistry

from artagent_local_speech.config import LocalSpeechConfig
from artagent_local_speech.providers import LocalSpeech


@hookimpl
def plugin_config_schema() -> type[LocalSpeechConfig]:
    return LocalSpeechConfig


@hookimpl
def register_providers(config: LocalSpeechConfig, metrics: CollectorRegistry) -> list[ProviderSpec]:
    return LocalSpeech(config, metrics).specs()
