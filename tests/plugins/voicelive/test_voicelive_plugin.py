"""The plugin as the runtime sees it: discovery, the ``realtime`` mode it registers, its
``[plugins.voicelive]`` table (errors naming the key; required keys only once a mode uses it),
the service URL and sign-in headers of each kind, and the session set-up in both dialects."""

from __future__ import annotations

import importlib.metadata as md
import json
import re
from pathlib import Path

import artagent_voicelive.hooks
import pytest
from artagent.config import ConfigError, parse_config
from artagent.plugins import PluginHost
from artagent.providers import ToolSpec, VoiceSpec
from artagent.runtime import Runtime
from artagent_voicelive.config import TurnDetection, VoiceLiveConfig
from artagent_voicelive.connection import Credentials, service_url
from artagent_voicelive.events import AudioDelta, ProtocolError, TranscriptDelta, decode_event
from artagent_voicelive.mode import VoiceLiveMode
from artagent_voicelive.protocol import AgentSetup, ClientEvents


def test_the_plugin_is_discovered_through_its_entry_point() -> None:
    points = {ep.name: ep for ep in md.entry_points(group="artagent")}
    assert points["voicelive"].value == "artagent_voicelive.hooks"
    host = PluginHost()
    host.load_entry_points()
    assert not host.failures
    info = host.plugins["voicelive"]
    assert (info.distribution, info.module) == ("artagent-voicelive", "artagent_voicelive.hooks")


def runtime_for(data_dir: Path, text: str, environ: dict[str, str] | None = None) -> Runtime:
    host = PluginHost()
    host.register("voicelive", artagent_voicelive.hooks)
    loaded = parse_config(
        f'[runtime]\ndata_dir = "{data_dir}"\n{text}', base_dir=data_dir, environ=environ or {}
    )
    return Runtime(loaded, host=host, load_entry_points=False)


def test_installed_but_unused_it_needs_no_table_and_contacts_nothing(data_dir: Path) -> None:
    runtime = runtime_for(data_dir, "")
    assert runtime.providers.names("realtime") == ["voicelive"]
    assert runtime.sessions.modes.used == {"pipeline"}  # the mode is built only when named


def test_a_mode_naming_voicelive_checks_the_keys_a_call_needs(data_dir: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        runtime_for(
            data_dir, '[session]\nmode = "voicelive"\n[plugins.voicelive]\nkind = "azure-voice-live"\n'
        )
    assert {str(i) for i in caught.value.issues} == {
        'plugins.voicelive.endpoint: required when kind = "azure-voice-live"',
        "plugins.voicelive.model: required: the realtime model (the deployment name on Azure OpenAI)",
    }
    with pytest.raises(
        ConfigError, match=re.escape('plugins.voicelive.api_key_env: required when kind = "openai-realtime"')
    ):
        runtime_for(
            data_dir,
            '[session]\nmode = "voicelive"\n[plugins.voicelive]\nkind = "openai-realtime"\nmodel = "m"\n',
        )


def test_a_configured_mode_signs_in_with_the_key_the_config_names(data_dir: Path) -> None:
    table = (
        '[session.modes]\nscenarios = {}\nnumbers = { "+14255550100" = "voicelive" }\n'
        '[plugins.voicelive]\nendpoint = "https://contoso.services.ai.azure.com"\nmodel = "gpt-realtime"\n'
        'api_key_env = "VL_KEY"\n'
    )
    runtime = runtime_for(data_dir, table, {"VL_KEY": "secret"})
    mode = runtime.sessions._realtime["voicelive"]
    assert isinstance(mode, VoiceLiveMode) and mode.credentials.api_key == "secret"


@pytest.mark.parametrize(
    ("table", "path", "message"),
    [
        ('kind = "gemini"', "plugins.voicelive.kind", "Invalid enum value 'gemini'"),
        ('endpoint = "contoso.azure.com"', "plugins.voicelive.endpoint", "must be an https://"),
        ("input_sample_rate = 8000", "plugins.voicelive.input_sample_rate", "Invalid enum value 8000"),
        ("temprature = 0.5", "plugins.voicelive.temprature", "unknown key"),
        ('turn_detection = { type = "loud" }', "plugins.voicelive.turn_detection.type", "Invalid enum"),
        (
            'kind = "openai-realtime"\necho_cancellation = true',
            "plugins.voicelive.echo_cancellation",
            "only Azure Voice Live",
        ),
        (
            'kind = "azure-openai-realtime"\nturn_detection = { type = "azure_semantic_vad" }',
            "plugins.voicelive.turn_detection.type",
            "azure_semantic_vad is Azure Voice Live's only",
        ),
        (
            'kind = "openai-realtime"\ninput_sample_rate = 16000',
            "plugins.voicelive.input_sample_rate",
            "the OpenAI realtime services take 24000 Hz audio only",
        ),
    ],
)
def test_a_bad_key_is_an_error_naming_its_path(data_dir: Path, table: str, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        runtime_for(data_dir, f"[plugins.voicelive]\n{table}\n")
    [issue] = caught.value.issues
    assert issue.path == path and message in issue.message


def test_each_kind_has_its_url_and_its_sign_in() -> None:
    voice_live = VoiceLiveConfig(endpoint="https://contoso.services.ai.azure.com/", model="gpt-realtime")
    assert service_url(voice_live) == (
        "wss://contoso.services.ai.azure.com/voice-live/realtime?api-version=2025-10-01&model=gpt-realtime"
    )
    azure = VoiceLiveConfig(
        kind="azure-openai-realtime", endpoint="https://aoai.openai.azure.com", model="rt"
    )
    assert service_url(azure) == "wss://aoai.openai.azure.com/openai/v1/realtime?model=rt"
    dated = VoiceLiveConfig(
        kind="azure-openai-realtime",
        endpoint="https://aoai.openai.azure.com",
        model="rt",
        api_version="2025-04-01-preview",
    )
    assert (
        service_url(dated)
        == "wss://aoai.openai.azure.com/openai/realtime?api-version=2025-04-01-preview&deployment=rt"
    )
    assert (voice_live.dialect, azure.dialect, dated.dialect) == ("preview", "ga", "preview")
    openai = VoiceLiveConfig(kind="openai-realtime", model="gpt-realtime", api_key_env="K")
    assert service_url(openai) == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert openai.dialect == "ga" and openai.default_voice == "alloy" and openai.transcriber == "whisper-1"


async def test_keys_go_where_each_service_reads_them() -> None:
    azure = VoiceLiveConfig(endpoint="https://x.services.ai.azure.com", model="m")
    assert await Credentials(azure, "k1").headers() == {"api-key": "k1"}
    openai = VoiceLiveConfig(kind="openai-realtime", model="m", api_key_env="K")
    assert await Credentials(openai, "sk-1").headers() == {"Authorization": "Bearer sk-1"}
    beta = VoiceLiveConfig(kind="openai-realtime", model="m", api_key_env="K", protocol="preview")
    assert (await Credentials(beta, "sk-1").headers())["OpenAI-Beta"] == "realtime=v1"

    async def token() -> str:
        return "entra-token"

    assert await Credentials(azure, None, token).headers() == {"Authorization": "Bearer entra-token"}


AGENT = AgentSetup(
    instructions="You are the front desk.",
    tools=(
        ToolSpec(name="look_up", description="Find it.", parameters={"type": "object", "properties": {}}),
    ),
    voice=VoiceSpec(name="en-US-AvaNeural", style="friendly", rate=1.1),
    temperature=0.3,
    max_tokens=200,
)


def test_the_preview_set_up_carries_voice_live_audio_options() -> None:
    config = VoiceLiveConfig(
        endpoint="https://x",
        model="m",
        input_sample_rate=16000,
        noise_reduction="azure_deep_noise_suppression",
        echo_cancellation=True,
        turn_detection=TurnDetection(
            type="azure_semantic_vad", remove_filler_words=True, end_of_utterance="semantic_detection_v1"
        ),
    )
    session = json.loads(
        ClientEvents(config, barge_in=False, language="en").session_update(AGENT, first=True, voice=True)
    )
    body = session["session"]
    assert body["voice"] == {
        "name": "en-US-AvaNeural",
        "type": "azure-standard",
        "style": "friendly",
        "rate": "1.1",
    }
    assert (body["input_audio_format"], body["output_audio_format"], body["input_audio_sampling_rate"]) == (
        "pcm16",
        "pcm16",
        16000,
    )
    assert body["input_audio_noise_reduction"] == {"type": "azure_deep_noise_suppression"}
    assert body["input_audio_echo_cancellation"] == {"type": "server_echo_cancellation"}
    assert body["input_audio_transcription"] == {"model": "azure-speech", "language": "en"}
    assert body["turn_detection"] == {
        "type": "azure_semantic_vad",
        "create_response": True,
        "interrupt_response": False,  # [session.barge_in] enabled = false
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "remove_filler_words": True,
        "end_of_utterance_detection": {"model": "semantic_detection_v1"},
    }
    assert (body["temperature"], body["max_response_output_tokens"]) == (0.3, 200)
    assert body["tools"] == [
        {
            "type": "function",
            "name": "look_up",
            "description": "Find it.",
            "parameters": {"type": "object", "properties": {}},
        }
    ]


def test_the_ga_set_up_nests_audio_and_maps_voices() -> None:
    config = VoiceLiveConfig(
        kind="openai-realtime",
        model="gpt-realtime",
        api_key_env="K",
        voices={"en-US-AvaNeural": "marin"},
        turn_detection=TurnDetection(type="semantic_vad", eagerness="low"),
        noise_reduction="near_field",
    )
    body = json.loads(ClientEvents(config).session_update(AGENT, first=True, voice=True))["session"]
    assert body["type"] == "realtime" and body["output_modalities"] == ["audio"]
    assert body["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert body["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad",
        "create_response": True,
        "interrupt_response": True,
        "eagerness": "low",
    }
    assert body["audio"]["input"]["noise_reduction"] == {"type": "near_field"}
    assert body["audio"]["output"] == {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"}
    assert body["max_output_tokens"] == 200 and "temperature" not in body  # GA has no temperature
    later = json.loads(ClientEvents(config).session_update(AGENT, first=False, voice=False))["session"]
    assert "audio" not in later and later["instructions"] == "You are the front desk."
    unknown = ClientEvents(config).service_voice(VoiceSpec(name="en-GB-SoniaNeural"))
    assert unknown == "alloy"  # an Azure voice OpenAI does not have: the default


def test_both_spellings_of_renamed_events_decode_alike() -> None:
    ga = decode_event(
        '{"type": "response.output_audio.delta", "response_id": "r", "item_id": "i", "delta": "AAA="}'
    )
    preview = decode_event(
        '{"type": "response.audio.delta", "response_id": "r", "item_id": "i", "delta": "AAA="}'
    )
    assert isinstance(ga, AudioDelta) and isinstance(preview, AudioDelta) and ga.delta == preview.delta
    text = decode_event(
        '{"type": "response.audio_transcript.delta", "response_id": "r", "item_id": "i", "delta": "Hi"}'
    )
    assert isinstance(text, TranscriptDelta) and text.delta == "Hi"
    assert decode_event('{"type": "rate_limits.updated", "rate_limits": []}') is None
    with pytest.raises(ProtocolError, match="not a realtime event"):
        decode_event("<html>502 Bad Gateway</html>")
    with pytest.raises(ProtocolError, match=r"response\.audio\.delta"):
        decode_event('{"type": "response.audio.delta", "delta": 42}')
