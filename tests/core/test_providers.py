"""Providers are registered by plugins by kind and name, and built from their settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
from artagent.config import LoadedConfig
from artagent.hookspecs import hookimpl
from artagent.plugins import PluginHost, PluginLoadError
from artagent.providers import (
    AudioChunk,
    ProviderRegistry,
    ProviderSpec,
    TTSProvider,
    UnknownProviderError,
    VoiceSpec,
)
from artagent.runtime import Runtime


class ToneTTS:
    """A tiny TTS: a fixed number of silent 20 ms chunks per word."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.rate = int(settings.get("sample_rate", 16000))

    async def synthesize(self, text: str, *, voice: VoiceSpec | None = None) -> AsyncIterator[AudioChunk]:
        for _ in text.split():
            yield AudioChunk(b"\0\0" * (self.rate // 50), self.rate)


class SpeechPlugin:
    @hookimpl
    def register_providers(self, secrets: Mapping[str, str]) -> list[ProviderSpec]:
        return [ProviderSpec("tts", "tone", ToneTTS, "silence, one chunk per word")]


def _runtime(make_config: Callable[..., LoadedConfig], **plugins: Any) -> Runtime:
    host = PluginHost()
    for name, obj in plugins.items():
        host.register(name, obj)
    return Runtime(make_config(), host=host, load_entry_points=False)


async def test_a_plugin_provider_is_built_by_name_and_works(
    make_config: Callable[..., LoadedConfig],
) -> None:
    runtime = _runtime(make_config, speech=SpeechPlugin())
    assert runtime.providers.names("tts") == ["tone"]
    assert runtime.plugins.plugins["speech"].registered["register_providers"] == ["tts:tone"]
    tts = runtime.providers.create("tts", "tone", {"sample_rate": 24000})
    assert isinstance(tts, TTSProvider)
    chunks = [c async for c in tts.synthesize("three short words")]
    assert [len(c.pcm) for c in chunks] == [960, 960, 960]
    assert {c.sample_rate for c in chunks} == {24000}


def test_unknown_provider_names_what_exists() -> None:
    registry = ProviderRegistry()
    registry.add(ProviderSpec("tts", "tone", ToneTTS), owner="speech")
    with pytest.raises(UnknownProviderError, match=r"no tts provider named 'piper' \(available: tone\)"):
        registry.create("tts", "piper")
    with pytest.raises(UnknownProviderError, match=r"no stt provider named 'whisper' \(available: none"):
        registry.create("stt", "whisper")


def test_same_kind_and_name_from_two_plugins_fails_naming_both(
    make_config: Callable[..., LoadedConfig],
) -> None:
    both = r"(one|two): tts provider 'tone' is already registered by (one|two)"
    with pytest.raises(PluginLoadError, match=both):
        _runtime(make_config, one=SpeechPlugin(), two=SpeechPlugin())


def test_unknown_kind_is_refused() -> None:
    registry = ProviderRegistry()
    with pytest.raises(ValueError, match="unknown provider kind 'tss'"):
        registry.add(ProviderSpec("tss", "x", ToneTTS), owner="typo")  # type: ignore[arg-type]
