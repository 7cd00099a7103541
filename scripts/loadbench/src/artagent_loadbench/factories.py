"""The plugin's provider specs, built from ``[plugins.loadbench]``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from artagent.providers import ProviderSpec

from artagent_loadbench.config import LoadBenchConfig
from artagent_loadbench.providers import DelayedRouter, FixedTTS, ScriptedSTT
from artagent_loadbench.script import read_texts

__all__ = ["specs"]


def specs(config: LoadBenchConfig) -> list[ProviderSpec]:
    def stt(settings: Mapping[str, Any]) -> ScriptedSTT:
        return ScriptedSTT(read_texts(config.script) if config.script else [], config.stt_final_s)

    def tts(settings: Mapping[str, Any]) -> FixedTTS:
        return FixedTTS(config.tts_first_audio_s, config.seconds_per_char)

    def model(settings: Mapping[str, Any]) -> DelayedRouter:
        from artagent_flows.router import FlowRouter  # the bench's model is the offline engine

        return DelayedRouter(FlowRouter(), config.model_first_token_s)

    return [
        ProviderSpec("stt", "scripted", stt, "bench only: the scripted callers' words, fixed latency"),
        ProviderSpec("tts", "fixed", tts, "bench only: a tone as long as the text, fixed latency"),
        ProviderSpec("model", "delayed_flows", model, "bench only: the flows engine, first token delayed"),
    ]
