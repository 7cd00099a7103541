"""What the client sends: the session set-up in either dialect, audio, responses, cancellations.

``session.update`` differs between the dialects: the preview one (Azure Voice Live, dated Azure
OpenAI versions) has flat ``input_audio_format``, ``turn_detection``, ``voice``... keys; the GA
one (OpenAI, Azure OpenAI ``/openai/v1``) nests them under ``audio.input`` / ``audio.output``
and needs ``type: "realtime"``. The other client events are spelled the same in both.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from artagent.providers import ToolSpec, VoiceSpec

from artagent_voicelive.config import TurnDetection, VoiceLiveConfig

__all__ = ["OUTPUT_RATE", "AgentSetup", "ClientEvents"]

OUTPUT_RATE = 24_000
"""The services speak PCM16 at 24 kHz."""


@dataclass(frozen=True)
class AgentSetup:
    """What the active agent asks of the session: its prompt, tools, voice and limits."""

    instructions: str
    tools: Sequence[ToolSpec] = ()
    voice: VoiceSpec | None = None
    temperature: float | None = None
    max_tokens: int | None = None


class ClientEvents:
    """Builds one call's client events as JSON text, each with its own ``event_id`` (so an
    ``error`` the service sends back can be matched with what caused it)."""

    def __init__(
        self, config: VoiceLiveConfig, *, barge_in: bool = True, language: str | None = None
    ) -> None:
        self.config, self.barge_in, self.language = config, barge_in, language
        self._ids = itertools.count(1)
        self.last_id = ""

    def _event(self, kind: str, **fields: Any) -> str:
        self.last_id = f"evt_artagent_{next(self._ids)}"
        return json.dumps({"type": kind, "event_id": self.last_id, **fields}, separators=(",", ":"))

    # -- the session ---------------------------------------------------------------------------
    def session_update(self, agent: AgentSetup, *, first: bool, voice: bool) -> str:
        """The agent's instructions and tools; on ``first``, the audio formats and turn taking
        as well; ``voice``: also the agent's voice (a service may refuse a new voice once it
        has spoken)."""
        session: dict[str, Any] = {"instructions": agent.instructions}
        session["tools"] = [_tool(spec) for spec in agent.tools]
        session["tool_choice"] = "auto"
        if self.config.dialect == "ga":
            _ga(session, self, agent, first=first, voice=voice)
        else:
            _preview(session, self, agent, first=first, voice=voice)
        return self._event("session.update", session=session)

    def service_voice(self, voice: VoiceSpec | None) -> str | dict[str, Any]:
        """The service's voice for an agent's provider-neutral one."""
        c = self.config
        name = voice.name if voice is not None and voice.name else ""
        name = c.voices.get(name, name if c.kind == "azure-voice-live" else "") or c.default_voice
        if c.kind != "azure-voice-live" or "Neural" not in name:
            return name
        azure: dict[str, Any] = {"name": name, "type": "azure-standard"}
        if voice is not None and voice.style:
            azure["style"] = voice.style
        if voice is not None and voice.rate != 1.0:
            azure["rate"] = f"{voice.rate:g}"
        return azure

    def turn_detection(self) -> dict[str, Any]:
        return _turn_detection(self.config.turn_detection, barge_in=self.barge_in)

    # -- audio and responses -------------------------------------------------------------------
    def append(self, pcm: bytes) -> str:
        return self._event("input_audio_buffer.append", audio=base64.b64encode(pcm).decode("ascii"))

    def respond(self, instructions: str | None = None) -> str:
        """Ask for a response now; ``instructions`` for this response only (a line to say)."""
        if instructions is None:
            return self._event("response.create")
        return self._event("response.create", response={"instructions": instructions})

    def cancel(self) -> str:
        return self._event("response.cancel")

    def truncate(self, item_id: str, audio_end_ms: float) -> str:
        """The caller heard ``audio_end_ms`` of the item: the model forgets the rest."""
        return self._event(
            "conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=int(audio_end_ms)
        )

    def function_output(self, call_id: str, output: str) -> str:
        item = {"type": "function_call_output", "call_id": call_id, "output": output}
        return self._event("conversation.item.create", item=item)

    def message(self, role: str, text: str) -> str:
        """A text message in the conversation: a typed caller turn, or history on resume."""
        if role == "user":
            part = "input_text"
        else:
            part = "output_text" if self.config.dialect == "ga" else "text"
        item = {"type": "message", "role": role, "content": [{"type": part, "text": text}]}
        return self._event("conversation.item.create", item=item)


def _tool(spec: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "name": spec.name,
        "description": spec.description,
        "parameters": spec.parameters,
    }


def _ga(
    session: dict[str, Any], events: ClientEvents, agent: AgentSetup, *, first: bool, voice: bool
) -> None:
    c = events.config
    session["type"] = "realtime"
    if agent.max_tokens or c.max_response_output_tokens:
        session["max_output_tokens"] = agent.max_tokens or c.max_response_output_tokens
    audio: dict[str, Any] = {}
    if first:
        session["output_modalities"] = ["audio"]
        audio["input"] = {
            "format": {"type": "audio/pcm", "rate": c.input_sample_rate},
            "transcription": _transcription(c, events.language),
            "turn_detection": events.turn_detection(),
            "noise_reduction": {"type": c.noise_reduction} if c.noise_reduction else None,
        }
        audio["output"] = {"format": {"type": "audio/pcm", "rate": OUTPUT_RATE}}
    if voice:
        audio.setdefault("output", {})["voice"] = events.service_voice(agent.voice)
    if audio:
        session["audio"] = audio


def _preview(
    session: dict[str, Any], events: ClientEvents, agent: AgentSetup, *, first: bool, voice: bool
) -> None:
    c = events.config
    temperature = agent.temperature if agent.temperature is not None else c.temperature
    if temperature is not None:
        session["temperature"] = temperature
    if agent.max_tokens or c.max_response_output_tokens:
        session["max_response_output_tokens"] = agent.max_tokens or c.max_response_output_tokens
    if voice:
        session["voice"] = events.service_voice(agent.voice)
    if not first:
        return
    session["modalities"] = ["text", "audio"]
    session["input_audio_format"] = session["output_audio_format"] = "pcm16"
    session["input_audio_transcription"] = _transcription(c, events.language)
    session["turn_detection"] = events.turn_detection()
    if c.noise_reduction:
        session["input_audio_noise_reduction"] = {"type": c.noise_reduction}
    if c.kind == "azure-voice-live":
        session["input_audio_sampling_rate"] = c.input_sample_rate
        if c.echo_cancellation:
            session["input_audio_echo_cancellation"] = {"type": "server_echo_cancellation"}


def _transcription(c: VoiceLiveConfig, language: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {"model": c.transcriber}
    if language:
        found["language"] = language
    return found


def _turn_detection(t: TurnDetection, *, barge_in: bool) -> dict[str, Any]:
    """The service answers as soon as the caller's turn ends (``create_response``) and, when
    barge-in is on, stops its response the moment the caller speaks (``interrupt_response``)."""
    found: dict[str, Any] = {"type": t.type, "create_response": True, "interrupt_response": barge_in}
    if t.type == "semantic_vad":
        found["eagerness"] = t.eagerness
        return found
    found.update(
        threshold=t.threshold,
        prefix_padding_ms=t.prefix_padding_ms,
        silence_duration_ms=t.silence_duration_ms,
    )
    if t.type.startswith("azure_"):
        found["remove_filler_words"] = t.remove_filler_words
    if t.end_of_utterance:
        found["end_of_utterance_detection"] = {"model": t.end_of_utterance}
    return found
