"""The ``[plugins.voicelive]`` table: which realtime service, how to reach it, how it listens.

The three services share one event protocol in two dialects: the preview one (Azure Voice Live,
Azure OpenAI with a dated ``api-version``) and the GA one (OpenAI, Azure OpenAI's ``/openai/v1``).
``protocol`` says which dialect the session set-up is written in; whatever it says, both spellings
of the server events that were renamed are understood (:mod:`artagent_voicelive.events`).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from artagent.config import ConfigError, ConfigIssue

__all__ = ["TABLE", "Kind", "TurnDetection", "VoiceLiveConfig"]

TABLE = "plugins.voicelive"
Kind = Literal["azure-voice-live", "azure-openai-realtime", "openai-realtime"]
Protocol = Literal["", "ga", "preview"]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
Ms = Annotated[int, msgspec.Meta(ge=0)]

OPENAI_ENDPOINT = "https://api.openai.com"
VOICE_LIVE_API_VERSION = "2025-10-01"
_AZURE_ONLY_VAD = ("azure_semantic_vad", "azure_semantic_vad_en", "azure_semantic_vad_multilingual")


class TurnDetection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the service decides that the caller started and stopped talking."""

    type: Literal[
        "server_vad",
        "semantic_vad",
        "azure_semantic_vad",
        "azure_semantic_vad_en",
        "azure_semantic_vad_multilingual",
    ] = "server_vad"
    """``server_vad`` (energy and silence), ``semantic_vad`` (OpenAI: the words say when the
    turn is over), or Azure Voice Live's ``azure_semantic_vad*``."""
    threshold: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5
    """Activation threshold (``server_vad`` and Azure's)."""
    prefix_padding_ms: Ms = 300
    """Audio kept before the detected start of speech."""
    silence_duration_ms: Ms = 500
    """Silence that ends the caller's turn (``server_vad`` and Azure's)."""
    eagerness: Literal["low", "medium", "high", "auto"] = "auto"
    """How soon ``semantic_vad`` ends a turn."""
    remove_filler_words: bool = False
    """Azure semantic VAD: "um" and "uh" do not count as speech (nor as barge-in)."""
    end_of_utterance: Literal["", "semantic_detection_v1", "semantic_detection_v1_multilingual"] = ""
    """Azure Voice Live's end-of-utterance model, on top of the VAD; empty: none."""


class VoiceLiveConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[plugins.voicelive]``: nothing is contacted until a call runs in the ``voicelive`` mode."""

    kind: Kind = "azure-voice-live"
    """``azure-voice-live``, ``azure-openai-realtime`` or ``openai-realtime``."""
    endpoint: str = ""
    """The service: ``https://<resource>.services.ai.azure.com`` (Voice Live),
    ``https://<resource>.openai.azure.com`` (Azure OpenAI); empty for OpenAI. ``wss://`` and
    ``ws://`` work too (a local test server)."""
    model: str = ""
    """The realtime model (``gpt-realtime``, ``gpt-4o-mini-realtime-preview``...); for Azure
    OpenAI, the deployment name."""
    api_version: str = ""
    """Voice Live: its API version (empty: 2025-10-01). Azure OpenAI: a dated preview version
    selects the preview URL and dialect; empty: the GA ``/openai/v1/realtime``."""
    protocol: Protocol = ""
    """Dialect of the session set-up: ``preview`` or ``ga``; empty: the service's own (Voice
    Live and dated Azure OpenAI versions: preview, else GA)."""
    api_key_env: str = ""
    """Environment variable holding the key. Required for OpenAI; for the Azure services
    without it, a Microsoft Entra ID token is used (DefaultAzureCredential)."""
    entra_scope: str = "https://cognitiveservices.azure.com/.default"
    """The scope Entra ID tokens are asked for."""
    connect_timeout_s: Seconds = 5.0
    """Opening the WebSocket and receiving ``session.created``."""
    voice: str = ""
    """The voice of agents that name none (or none this service has). Empty: ``en-US-AvaNeural``
    on Voice Live, ``alloy`` on OpenAI's."""
    voices: dict[str, str] = msgspec.field(default_factory=dict)
    """An agent's voice name -> this service's voice (OpenAI voices are ``alloy``, ``marin``...;
    Voice Live takes Azure neural voice names as they are)."""
    input_sample_rate: Literal[16000, 24000] = 24000
    """The rate caller audio is sent at; 16000 (no resampling at all) on Voice Live only."""
    turn_detection: TurnDetection = msgspec.field(default_factory=TurnDetection)
    noise_reduction: Literal["", "near_field", "far_field", "azure_deep_noise_suppression"] = ""
    """Input noise reduction; empty: none. ``azure_deep_noise_suppression`` on Voice Live only."""
    echo_cancellation: bool = False
    """Voice Live's server echo cancellation (the agent's own voice coming back from a speaker phone)."""
    transcription_model: str = ""
    """Transcribes the caller (``transcription_received``); empty: ``azure-speech`` on Voice
    Live, ``whisper-1`` elsewhere."""
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    """Sampling temperature (preview dialect only; the agent's own setting wins)."""
    max_response_output_tokens: Annotated[int, msgspec.Meta(gt=0)] | None = None
    """Cap on a response's tokens (the agent's ``max_tokens`` wins); unset: the service's."""
    failure_message: str = (
        "I'm sorry, we are having a technical problem and I have to end this call. "
        "Please call us again. Goodbye."
    )
    """Said by ``[session] tts`` when the realtime service fails mid-call, before hanging up."""

    def __post_init__(self) -> None:
        # A ConfigError (not a ValueError) passes through msgspec untouched, with its own paths.
        issues = _conflicts(self)
        if issues:
            raise ConfigError(issues)

    def check(self) -> None:
        """The keys a call needs: checked when a ``[session]`` mode names ``voicelive`` (the
        plugin is installed everywhere; an unused table with its defaults is no error)."""
        issues = _required(self)
        if issues:
            raise ConfigError(issues)

    @property
    def dialect(self) -> Literal["ga", "preview"]:
        if self.protocol:
            return self.protocol
        if self.kind == "azure-voice-live" or (self.kind == "azure-openai-realtime" and self.api_version):
            return "preview"
        return "ga"

    @property
    def default_voice(self) -> str:
        return self.voice or ("en-US-AvaNeural" if self.kind == "azure-voice-live" else "alloy")

    @property
    def transcriber(self) -> str:
        return self.transcription_model or (
            "azure-speech" if self.kind == "azure-voice-live" else "whisper-1"
        )


def _required(c: VoiceLiveConfig) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    if c.kind != "openai-realtime" and not c.endpoint:
        issues.append(ConfigIssue(f"{TABLE}.endpoint", f'required when kind = "{c.kind}"'))
    if not c.model:
        message = "required: the realtime model (the deployment name on Azure OpenAI)"
        issues.append(ConfigIssue(f"{TABLE}.model", message))
    if c.kind == "openai-realtime" and not c.api_key_env:
        issues.append(ConfigIssue(f"{TABLE}.api_key_env", 'required when kind = "openai-realtime"'))
    return issues


def _conflicts(c: VoiceLiveConfig) -> list[ConfigIssue]:
    """Settings the chosen service does not have."""
    issues: list[ConfigIssue] = []

    def bad(key: str, message: str) -> None:
        issues.append(ConfigIssue(f"{TABLE}.{key}", message))

    if c.endpoint and not c.endpoint.startswith(("https://", "http://", "wss://", "ws://")):
        bad("endpoint", f"must be an https://, http://, wss:// or ws:// URL, not {c.endpoint!r}")
    if c.kind == "azure-voice-live":
        return issues
    if c.turn_detection.type in _AZURE_ONLY_VAD:
        bad("turn_detection.type", f"{c.turn_detection.type} is Azure Voice Live's only")
    if c.turn_detection.end_of_utterance:
        bad("turn_detection.end_of_utterance", "end-of-utterance detection is Azure Voice Live's only")
    if c.noise_reduction == "azure_deep_noise_suppression":
        bad("noise_reduction", "azure_deep_noise_suppression is Azure Voice Live's only")
    if c.echo_cancellation:
        bad("echo_cancellation", "only Azure Voice Live offers server echo cancellation")
    if c.input_sample_rate != 24000:
        bad("input_sample_rate", "the OpenAI realtime services take 24000 Hz audio only")
    return issues
