"""The plugin is found, offers its providers, is the embedded default, and checks its settings."""

from __future__ import annotations

import importlib.metadata as md
import json
import re
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from artagent.config import ConfigError, LoadedConfig, parse_config
from artagent.plugins import PluginHost
from artagent.runtime import Runtime
from artagent_local_speech.config import LocalSpeechConfig
from artagent_local_speech.models import bundled_voice
from artagent_local_speech.stt import WhisperSTT
from artagent_local_speech.tts import PiperTTS
from artagent_local_speech.vad import SileroVAD, WebRTCVAD

ROOT = Path(__file__).resolve().parents[3]
MakeConfig = Callable[..., LoadedConfig]


def test_the_plugin_is_discovered_through_its_entry_point() -> None:
    points = {ep.name: ep for ep in md.entry_points(group="artagent")}
    assert points["local_speech"].value == "artagent_local_speech.hooks"
    host = PluginHost()
    host.load_entry_points()
    assert "local_speech" not in {f.name for f in host.failures}
    info = host.plugins["local_speech"]
    assert info.distribution == "artagent-local-speech"
    assert info.module == "artagent_local_speech.hooks"


def test_it_registers_four_providers_and_is_chosen_when_session_names_none(make_config: MakeConfig) -> None:
    runtime = Runtime(make_config())
    assert runtime.plugins.plugins["local_speech"].registered["register_providers"] == [
        "vad:silero",
        "vad:webrtc",
        "stt:whisper",
        "tts:piper",
    ]
    # Two VADs are installed and [session] names none: the embedded default (silero) is chosen.
    names = runtime.sessions.names
    assert (names["vad"], names["stt"], names["tts"]) == ("silero", "whisper", "piper")
    assert isinstance(runtime.sessions.provider("vad"), SileroVAD)
    assert isinstance(runtime.sessions.provider("stt"), WhisperSTT)
    assert isinstance(runtime.sessions.provider("tts"), PiperTTS)


def test_webrtc_is_chosen_by_name(make_config: MakeConfig) -> None:
    runtime = Runtime(make_config('[session]\nvad = "webrtc"\n[plugins.local_speech.vad]\nwebrtc_mode = 1\n'))
    vad = runtime.sessions.provider("vad")
    assert isinstance(vad, WebRTCVAD) and vad.mode == 1


def test_the_repository_runtime_toml_selects_the_local_providers() -> None:
    loaded = parse_config((ROOT / "runtime.toml").read_text(encoding="utf-8"), base_dir=ROOT, environ={})
    session = loaded.config.session
    assert (session.vad, session.stt, session.tts) == ("silero", "whisper", "piper")
    runtime = Runtime(loaded)
    assert runtime.plugin_configs["local_speech"] == LocalSpeechConfig()  # the file gives the defaults
    assert runtime.sessions.names["stt"] == "whisper"
    # (model:flows is the offline engine: the only model router installed with no key set)
    assert runtime.sessions.warming_up() == ["vad:silero", "stt:whisper", "tts:piper", "model:flows"]


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        (
            '[plugins.local_speech.stt]\nmodel = "/nonexistent/whisper"\n',
            "plugins.local_speech.stt.model",
            "model.bin",
        ),
        (
            '[plugins.local_speech.tts]\nvoice = "/nonexistent/voice.onnx"\n',
            "plugins.local_speech.tts.voice",
            ".onnx",
        ),
        (
            '[plugins.local_speech.tts.voices]\nanna = "anna.wav"\n',
            "plugins.local_speech.tts.voices.anna",
            ".onnx",
        ),
        ("[plugins.local_speech.stt]\nbeam_size = 0\n", "plugins.local_speech.stt.beam_size", ">= 1"),
        ("[plugins.local_speech.stt]\nbeem_size = 5\n", "plugins.local_speech.stt.beem_size", "unknown key"),
        ("[plugins.local_speech.vad]\nwebrtc_mode = 4\n", "plugins.local_speech.vad.webrtc_mode", "<= 3"),
    ],
)
def test_bad_settings_name_their_key(make_config: MakeConfig, table: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Runtime(make_config(table))
    issues = {issue.path: issue.message for issue in caught.value.issues}
    assert key in issues, issues
    assert message in issues[key]


def test_a_voice_table_entry_and_a_voice_path_are_accepted(make_config: MakeConfig) -> None:
    voice = bundled_voice()
    runtime = Runtime(
        make_config(f'[plugins.local_speech.tts]\nvoice = "{voice}"\nvoices = {{ joe = "{voice}" }}\n')
    )
    tts = runtime.sessions.provider("tts")
    assert tts.voices.default == voice.resolve()
    assert tts.voices.known["joe"] == voice.resolve()


def test_every_setting_is_documented_with_its_default() -> None:
    doc = (ROOT / "docs" / "local-speech.md").read_text(encoding="utf-8")
    defaults = msgspec.to_builtins(LocalSpeechConfig())
    problems = []
    for table, keys in defaults.items():
        for key, default in keys.items():
            match = re.search(rf"^\| `{table}\.{key}` \| ([^|]+) \|", doc, flags=re.MULTILINE)
            if match is None:
                problems.append(f"{table}.{key}: no row")
            elif match.group(1).strip() != f"`{json.dumps(default)}`":
                problems.append(f"{table}.{key}: documented {match.group(1).strip()}, code {default!r}")
    assert not problems, problems
