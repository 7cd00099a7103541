"""What the fake realtime service answers: scripted responses, failures, and the model's view.

A response is a list of parts: :class:`Say` (the agent speaks: audio and its transcript) and
:class:`Call` (a function call). :class:`Fail` answers with an ``error`` event instead, and
:class:`Drop` breaks the connection. The fake asks a *brain* (a function of :class:`Context`)
for each response it has to give, the way a model reads its instructions, tools and the last
conversation item.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

OUTPUT_RATE = 24_000
SPELLINGS = {
    "ga": {
        "audio_delta": "response.output_audio.delta",
        "audio_done": "response.output_audio.done",
        "transcript_delta": "response.output_audio_transcript.delta",
        "transcript_done": "response.output_audio_transcript.done",
        "item_created": "conversation.item.added",
    },
    "preview": {
        "audio_delta": "response.audio.delta",
        "audio_done": "response.audio.done",
        "transcript_delta": "response.audio_transcript.delta",
        "transcript_done": "response.audio_transcript.done",
        "item_created": "conversation.item.created",
    },
}
"""The server events the GA release renamed, in each dialect."""


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fail:
    """An ``error`` event (a server error mid-call)."""

    code: str = "server_error"
    message: str = "The server had an error while processing your request."


@dataclass(frozen=True)
class Drop:
    """The connection breaks (the service went away)."""


Part = Say | Call
Answer = list[Part] | Fail | Drop


@dataclass
class Context:
    """What the model knows when it answers."""

    instructions: str
    """The response's own instructions when the client gave some, else the session's."""
    response_instructions: str | None
    session_instructions: str
    tools: set[str]
    last: dict[str, Any]
    """The last conversation item: ``{"role": "user", "text": ...}`` or a function output
    ``{"type": "function_call_output", "output": {...}}``."""
    items: list[dict[str, Any]]


Brain = Callable[[Context], Answer]


def echo_brain(context: Context) -> Answer:
    """A model that says the line it is told to say, else acknowledges what the caller said."""
    said = quoted(context.response_instructions)
    if said is not None:
        return [Say(said)]
    return [Say(f"You said: {context.last.get('text', 'something')}.")]


def quoted(instructions: str | None) -> str | None:
    """The fixed line in response instructions ("... word for word: "<line>" ...")."""
    marker = "word for word"
    if not instructions or marker not in instructions:
        return None
    start = instructions.index('"', instructions.index(marker)) + 1
    end = instructions.find('"', start)
    return instructions[start:end] if end > start else None


def speech(text: str, ms_per_char: float) -> bytes:
    """The agent's voice for ``text``: a 24 kHz tone lasting ``ms_per_char`` per character."""
    samples = max(1, round(len(text) * ms_per_char * OUTPUT_RATE / 1000))
    t = np.arange(samples) / OUTPUT_RATE
    return (np.sin(2 * math.pi * 330.0 * t) * 0.25 * 32767).astype("<i2").tobytes()
