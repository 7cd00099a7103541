"""The plugin as the runtime sees it: discovery, its [plugins.azure_speech] table, what the SDK's
SpeechConfig ends up holding, SSML, and Entra ID tokens."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import artagent_azure_speech.hooks
import azure.cognitiveservices.speech as speechsdk
import pytest
from artagent.config import ConfigError, parse_config
from artagent.plugins import PluginHost
from artagent.providers import VoiceSpec
from artagent.runtime import Runtime
from artagent_azure_speech.config import AzureSpeechConfig
from artagent_azure_speech.credentials import EntraTokens
from artagent_azure_speech.sdk_config import (
    LanguageMismatchError,
    recognition_config,
    recognition_languages,
    speech_config,
    synthesis_config,
)
from artagent_azure_speech.ssml import build_ssml, prosody_rate
from artagent_azure_speech.stt import AzureSTT
from artagent_azure_speech.tts import AzureTTS
from azure.core.credentials import AccessToken

P = speechsdk.PropertyId


def test_the_plugin_is_discovered_through_its_entry_point() -> None:
    points = {ep.name: ep for ep in md.entry_points(group="artagent")}
    assert points["azure_speech"].value == "artagent_azure_speech.hooks"
    host = PluginHost()
    host.load_entry_points()
    assert not host.failures
    info = host.plugins["azure_speech"]
    assert (info.distribution, info.module) == ("artagent-azure-speech", "artagent_azure_speech.hooks")


def runtime_for(data_dir: Path, table: str, environ: dict[str, str] | None = None) -> Runtime:
    host = PluginHost()
    host.register("azure_speech", artagent_azure_speech.hooks)
    text = f'[runtime]\ndata_dir = "{data_dir}"\n[plugins.azure_speech]\n{table}'
    loaded = parse_config(text, base_dir=data_dir, source="test.toml", environ=environ or {})
    return Runtime(loaded, host=host, load_entry_points=False)


def test_a_configured_plugin_registers_stt_and_tts_named_azure(data_dir: Path) -> None:
    table = 'region = "swedencentral"\nkey_env = "AZURE_SPEECH_KEY"\n'
    runtime = runtime_for(data_dir, table, {"AZURE_SPEECH_KEY": "secret"})
    assert runtime.providers.names("stt") == ["azure"] and runtime.providers.names("tts") == ["azure"]
    stt = runtime.providers.create("stt", "azure")
    tts = runtime.providers.create("tts", "azure")
    assert isinstance(stt, AzureSTT) and isinstance(tts, AzureTTS)
    assert stt._credentials.key == "secret" and tts.sample_rate == 16000


def test_an_unconfigured_plugin_registers_nothing_so_the_embedded_providers_stay_in_use(
    data_dir: Path,
) -> None:
    runtime = runtime_for(data_dir, "")
    assert runtime.providers.names("stt") == [] and runtime.providers.names("tts") == []
    assert "register_providers" not in runtime.plugins.plugins["azure_speech"].registered


@pytest.mark.parametrize(
    ("table", "path", "message"),
    [
        ('region = "westeurope"\nhost = "ws://localhost:5000"', "plugins.azure_speech.host", "only one of"),
        ('region = "westeurope"', "plugins.azure_speech.resource_id", "Entra ID with a region"),
        ('endpoint = "http://x"', "plugins.azure_speech.endpoint", "https://"),
        ('host = "localhost:5000"', "plugins.azure_speech.host", "ws://"),
        (
            'host = "ws://h"\nlanguages = ["en-US", "english"]',
            "plugins.azure_speech.languages[1]",
            "not a locale",
        ),
        (
            'host = "ws://h"\noutput_rate = 11025',
            "plugins.azure_speech.output_rate",
            "Invalid enum value 11025",
        ),
        (
            'host = "ws://h"\nsegmentation_silence_ms = 50',
            "plugins.azure_speech.segmentation_silence_ms",
            ">= 100",
        ),
        ('host = "ws://h"\nvoices = "x"', "plugins.azure_speech.voices", "unknown key"),
    ],
)
def test_bad_settings_are_errors_naming_their_dotted_key(
    data_dir: Path, table: str, path: str, message: str
) -> None:
    with pytest.raises(ConfigError) as failure:
        runtime_for(data_dir, table + "\n")
    assert [(i.path, message in i.message) for i in failure.value.issues] == [(path, True)]


def test_a_key_env_whose_variable_is_unset_is_named(data_dir: Path) -> None:
    with pytest.raises(ConfigError) as failure:
        runtime_for(data_dir, 'region = "westeurope"\nkey_env = "AZURE_SPEECH_KEY"\n')
    assert [str(i) for i in failure.value.issues] == [
        "plugins.azure_speech.key_env: environment variable AZURE_SPEECH_KEY is not set"
    ]


# -- what the SDK ends up with -------------------------------------------------------------
def test_a_region_and_key_make_a_subscription_config() -> None:
    config = speech_config(AzureSpeechConfig(region="westeurope", key_env="K"), key="secret", token=None)
    assert config.get_property(P.SpeechServiceConnection_Key) == "secret"
    assert config.get_property(P.SpeechServiceConnection_Region) == "westeurope"
    assert config.get_property(P.SpeechServiceAuthorization_Token) == ""


def test_entra_id_with_a_region_uses_the_aad_resource_token_format() -> None:
    cfg = AzureSpeechConfig(region="westeurope", resource_id="/subscriptions/s/resourceGroups/g/x/accounts/a")
    config = speech_config(cfg, key=None, token="aad#/subscriptions/s/resourceGroups/g/x/accounts/a#eyJ0")
    assert config.get_property(P.SpeechServiceAuthorization_Token) == (
        "aad#/subscriptions/s/resourceGroups/g/x/accounts/a#eyJ0"
    )
    assert config.get_property(P.SpeechServiceConnection_Key) == ""


def test_entra_id_with_a_custom_domain_endpoint_uses_the_bare_token() -> None:
    cfg = AzureSpeechConfig(endpoint="https://contoso-speech.cognitiveservices.azure.com/")
    config = speech_config(cfg, key=None, token="eyJ0")
    assert config.get_property(P.SpeechServiceConnection_Endpoint) == cfg.endpoint
    assert config.authorization_token == "eyJ0"


def test_recognition_config_sets_language_detail_and_segmentation() -> None:
    cfg = AzureSpeechConfig(host="ws://localhost:5000", segmentation_silence_ms=350)
    config, auto = recognition_config(cfg, ["en-GB"], key=None, token=None)
    assert auto is None
    assert config.get_property(P.SpeechServiceConnection_Host) == "ws://localhost:5000"
    assert config.speech_recognition_language == "en-GB"
    assert config.get_property(P.Speech_SegmentationSilenceTimeoutMs) == "350"
    assert config.output_format == speechsdk.OutputFormat.Detailed


def test_several_languages_turn_on_continuous_language_identification() -> None:
    cfg = AzureSpeechConfig(host="ws://h", languages=["en-US", "es-MX", "fr-CA"])
    config, auto = recognition_config(cfg, cfg.languages, key=None, token=None)
    assert isinstance(auto, speechsdk.languageconfig.AutoDetectSourceLanguageConfig)
    assert config.get_property(P.SpeechServiceConnection_LanguageIdMode) == "Continuous"


def test_the_session_language_narrows_the_configured_locales() -> None:
    cfg = AzureSpeechConfig(host="ws://h", languages=["en-US", "es-MX"])
    assert recognition_languages(cfg, None) == ["en-US", "es-MX"]
    assert recognition_languages(cfg, "es") == ["es-MX"]
    assert recognition_languages(cfg, "de-DE") == ["de-DE"]
    with pytest.raises(LanguageMismatchError, match=r"session.language 'de' matches none"):
        recognition_languages(cfg, "de")


@pytest.mark.parametrize(
    ("rate", "name"), [(16000, "raw-16khz-16bit-mono-pcm"), (24000, "raw-24khz-16bit-mono-pcm")]
)
def test_synthesis_config_asks_for_raw_pcm_at_the_output_rate(rate: int, name: str) -> None:
    cfg = AzureSpeechConfig(host="ws://h", output_rate=rate, voice="en-GB-RyanNeural")  # type: ignore[arg-type]
    config = synthesis_config(cfg, key="k", token=None)
    assert config.get_property(P.SpeechServiceConnection_SynthOutputFormat) == name
    assert config.speech_synthesis_voice_name == "en-GB-RyanNeural"


def test_the_sdk_constructs_without_credentials_or_network() -> None:
    cfg = AzureSpeechConfig(host="ws://127.0.0.1:9")
    config, _ = recognition_config(cfg, ["en-US"], key=None, token=None)
    stream = speechsdk.audio.PushAudioInputStream()
    speechsdk.SpeechRecognizer(config, audio_config=speechsdk.audio.AudioConfig(stream=stream))
    speechsdk.SpeechSynthesizer(synthesis_config(cfg, key=None, token=None), audio_config=None)


# -- SSML ----------------------------------------------------------------------------------
HEAD = (
    '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" '
    'xmlns:mstts="http://www.w3.org/2001/mstts" xml:lang='
)


def test_plain_text_in_the_default_voice() -> None:
    assert build_ssml("Hello.", None, default_voice="en-US-AvaMultilingualNeural") == (
        HEAD + '"en-US"><voice name="en-US-AvaMultilingualNeural">Hello.</voice></speak>'
    )


def test_a_voice_with_style_and_rate() -> None:
    voice = VoiceSpec(name="es-MX-DaliaNeural", style="customerservice", rate=0.85)
    assert build_ssml("¿En qué le ayudo?", voice, default_voice="en-US-AvaNeural") == (
        HEAD + '"es-MX"><voice name="es-MX-DaliaNeural"><mstts:express-as style="customerservice">'
        '<prosody rate="-15%">¿En qué le ayudo?</prosody></mstts:express-as></voice></speak>'
    )


def test_text_and_attributes_are_escaped() -> None:
    voice = VoiceSpec(name='x" onload="y', style="a<b")
    ssml = build_ssml('Tom & Jerry <break time="3s"/> "quoted"', voice, default_voice="v")
    assert '>Tom &amp; Jerry &lt;break time="3s"/&gt; "quoted"<' in ssml
    root = ElementTree.fromstring(ssml)  # well-formed, and every value reads back as given
    voice_element = root.find("{http://www.w3.org/2001/10/synthesis}voice")
    assert voice_element is not None and voice_element.get("name") == 'x" onload="y'
    style = voice_element.find("{http://www.w3.org/2001/mstts}express-as")
    assert style is not None and style.get("style") == "a<b"
    assert style.text == 'Tom & Jerry <break time="3s"/> "quoted"' and len(style) == 0


def test_rates_are_relative_percentages_within_azures_range() -> None:
    assert [prosody_rate(r) for r in (1.0, 1.25, 0.9, 5.0, 0.1)] == [None, "+25%", "-10%", "+100%", "-50%"]


# -- Entra ID tokens -----------------------------------------------------------------------
class CountingCredential:
    def __init__(self, lifetime_s: float, clock: list[float]) -> None:
        self.lifetime_s, self.clock, self.calls = lifetime_s, clock, 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        return AccessToken(f"t{self.calls}", int(self.clock[0] + self.lifetime_s))


async def test_tokens_are_cached_and_renewed_before_they_expire() -> None:
    now = [1_000_000.0]
    credential = CountingCredential(3600, now)
    tokens = EntraTokens(credential, resource_id="/r", refresh_s=300, clock=lambda: now[0])
    assert await tokens.token() == "aad#/r#t1"
    now[0] += 3000  # 600 s left: still good
    assert await tokens.token() == "aad#/r#t1" and credential.calls == 1
    assert tokens.refresh_in() == pytest.approx(300)
    now[0] += 301  # inside the refresh margin
    assert await tokens.token() == "aad#/r#t2" and credential.calls == 2
