"""What the session engine needs from speech, model and channel providers.

Core defines these Protocols; plugins implement them and register them by name through the
``register_providers`` hook; runtime.toml chooses which one serves a call. Core never knows
which implementation it runs. Audio is PCM16 little-endian mono; the engine works at 16 kHz in
20 ms frames and resamples at the edges (``artagent.audio``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

__all__ = [
    "PIPELINE_KINDS",
    "PROVIDER_KINDS",
    "AgentContext",
    "AudioChunk",
    "MediaChannel",
    "ModelItem",
    "ModelProvider",
    "ModelRequest",
    "ModelUsage",
    "ProviderKind",
    "ProviderRegistry",
    "ProviderSpec",
    "STTProvider",
    "STTStream",
    "SupportsWarmUp",
    "TTSProvider",
    "TextDelta",
    "ToolCallRequest",
    "ToolSpec",
    "Transcript",
    "TurnDetector",
    "UnknownProviderError",
    "VADProvider",
    "VADStream",
    "VoiceSpec",
]

ProviderKind = Literal["vad", "stt", "tts", "turn_detector", "model", "realtime"]
PIPELINE_KINDS: tuple[ProviderKind, ...] = ("vad", "stt", "tts", "turn_detector", "model")
"""The kinds the pipeline (:class:`~artagent.session.engine.Session`) is built from."""
PROVIDER_KINDS: tuple[ProviderKind, ...] = (*PIPELINE_KINDS, "realtime")
"""``realtime``: a speech-to-speech session mode that drives whole calls (see
:mod:`artagent.session.modes`), chosen per call by ``[session] mode`` and ``[session.modes]``."""


# -- voice activity -------------------------------------------------------------------------
@runtime_checkable
class VADStream(Protocol):
    """One call's voice activity detector (it may keep state between frames)."""

    async def speech_probability(self, frame: bytes) -> float:
        """Probability in [0, 1] that the 20 ms frame holds speech. CPU-heavy detectors run
        in a bounded executor so the event loop never waits on them."""
        ...


@runtime_checkable
class VADProvider(Protocol):
    def open(self, *, sample_rate: int) -> VADStream:
        """A detector for one call."""
        ...


# -- speech to text -------------------------------------------------------------------------
class Transcript(msgspec.Struct, frozen=True, kw_only=True):
    """A partial or final recognition result; times are ms on the call's audio timeline."""

    text: str
    is_final: bool
    start_ms: float | None = None
    end_ms: float | None = None
    confidence: float | None = None
    language: str | None = None


@runtime_checkable
class STTStream(Protocol):
    """One call's recogniser: audio goes in as it arrives, results come out as they are ready."""

    async def push(self, frame: bytes) -> None:
        """Add 20 ms of caller audio (never blocks on recognition)."""
        ...

    async def end_of_speech(self) -> None:
        """The VAD saw the caller stop: finish the utterance (a final result follows)."""
        ...

    def results(self) -> AsyncIterator[Transcript]:
        """Partial and final transcripts, in order, until :meth:`close`."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class STTProvider(Protocol):
    async def open(self, *, sample_rate: int, language: str | None = None) -> STTStream:
        """A recogniser for one call."""
        ...


# -- text to speech -------------------------------------------------------------------------
class VoiceSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A provider-neutral voice: each TTS maps it to one of its own (or its default)."""

    name: str | None = None
    style: str | None = None
    rate: float = 1.0


class AudioChunk(msgspec.Struct, frozen=True):
    pcm: bytes
    sample_rate: int


@runtime_checkable
class TTSProvider(Protocol):
    def synthesize(self, text: str, *, voice: VoiceSpec | None = None) -> AsyncIterator[AudioChunk]:
        """Stream the audio of ``text`` as soon as it is produced; cancelling the iteration
        stops the synthesis."""
        ...


# -- turn taking ----------------------------------------------------------------------------
@runtime_checkable
class TurnDetector(Protocol):
    def silence_needed_s(self, transcript: str) -> float:
        """How long the caller must stay silent, given what they said so far, before their turn
        ends: near the minimum after a complete sentence, near the maximum after "and", "um",
        or an unfinished number."""
        ...


# -- the model ------------------------------------------------------------------------------
class ToolSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str
    parameters: dict[str, Any]
    """JSON Schema of the arguments."""


@dataclass
class AgentContext:
    """What a model router may know of the agent it answers for, beyond the messages.

    An LLM router needs none of it; the offline flow engine runs the agent's form from it.
    ``memory`` is the router's own, per agent and per call: what it changes there is saved with
    the call's state, so a call resumed on another worker goes on where it was.
    """

    call_id: str
    agent: str
    definition: Any
    """The agent's :class:`~artagent.agents.definitions.AgentDefinition`."""
    fields: dict[str, Any]
    """The call's collected fields, shared by its agents (tools write them too)."""
    memory: dict[str, Any]
    arrived: str | None = None
    """``"announced"`` or ``"discrete"``: the agent has just been handed the call (after saying
    its greeting, when announced) and is asked for the first time."""
    handoff_tools: Mapping[str, str] = field(default_factory=dict)
    """Target agent -> the name of the tool that hands the call to it."""
    render: Callable[[str, Mapping[str, Any]], str] | None = None
    """Renders one of the agent's Jinja templates with the call's context plus the mapping."""
    now: Callable[[], Any] | None = None
    """The call's wall clock (a timezone-aware datetime), for relative dates."""


class ModelRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Everything sent to the model for one response; every setting here is actually sent."""

    messages: Sequence[Any]
    """The conversation (``artagent.session.state.Message`` items), system prompt first."""
    tools: Sequence[ToolSpec] = ()
    model: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    context: AgentContext | None = None
    """The agent behind the request (not sent to an LLM: it has the system prompt)."""


class TextDelta(msgspec.Struct, frozen=True):
    text: str


class ToolCallRequest(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    arguments: dict[str, Any]


class ModelUsage(msgspec.Struct, frozen=True, kw_only=True):
    """What one model response cost; a router yields it once, at the end of the stream."""

    model: str = ""
    """The model or deployment that actually answered (after any fallback)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0


ModelItem = TextDelta | ToolCallRequest | ModelUsage


@runtime_checkable
class ModelProvider(Protocol):
    def stream(self, request: ModelRequest) -> AsyncIterator[ModelItem]:
        """Text as it is generated, tool calls once their arguments are complete, and
        optionally a :class:`ModelUsage` last. Cancelling the iteration cancels the request."""
        ...


# -- channels -------------------------------------------------------------------------------
@runtime_checkable
class MediaChannel(Protocol):
    """A call's audio connection (ACS media WebSocket, browser WebSocket, CLI simulator)."""

    def frames(self) -> AsyncIterator[bytes]:
        """Caller audio as 20 ms PCM16 frames at 16 kHz, until the caller goes away."""
        ...

    async def send(self, frame: bytes) -> None:
        """Agent audio, PCM16 at 16 kHz (the adapter converts for its wire): one 20 ms frame, or
        up to ``frames_per_send`` of them joined when the channel has that attribute (a wire
        where each message costs more than its bytes asks for fewer, larger messages)."""
        ...

    async def flush(self) -> None:
        """Drop whatever the far side has buffered for playout (ACS StopAudio): barge-in."""
        ...

    async def hangup(self, reason: str) -> None: ...


# -- start-up -------------------------------------------------------------------------------
@runtime_checkable
class SupportsWarmUp(Protocol):
    """A provider that needs time before its first call (loading a model, a first inference).

    Optional: a provider of any kind may define it. The runtime awaits it at start-up for the
    providers ``[session]`` selects, and ``/readiness`` answers 503 (check ``providers``) until
    every one has finished. It must not block the event loop: load in an executor.
    """

    async def warm_up(self) -> None: ...


# -- registration ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ProviderSpec:
    """A named provider a plugin offers; ``factory`` builds it from its settings table."""

    kind: ProviderKind
    name: str
    factory: Callable[[Mapping[str, Any]], Any]
    description: str = ""
    default: bool = False
    """The embedded default of its kind: chosen when ``[session]`` names no provider of this
    kind and several are installed, if it is the only one so marked."""

    def describe(self) -> str:
        return f"{self.kind}:{self.name}"


class UnknownProviderError(LookupError):
    pass


class ProviderRegistry:
    """The providers of one runtime, by kind and name."""

    def __init__(self) -> None:
        self._specs: dict[tuple[str, str], tuple[ProviderSpec, str]] = {}

    def add(self, spec: ProviderSpec, *, owner: str) -> None:
        if spec.kind not in PROVIDER_KINDS:
            kinds = ", ".join(PROVIDER_KINDS)
            raise ValueError(f"{owner}: unknown provider kind {spec.kind!r} (kinds: {kinds})")
        key = (spec.kind, spec.name)
        if key in self._specs:
            raise ValueError(
                f"{owner}: {spec.kind} provider {spec.name!r} is already registered by {self._specs[key][1]}"
            )
        self._specs[key] = (spec, owner)

    def extend(self, specs: Iterable[tuple[str, ProviderSpec]]) -> None:
        for owner, spec in specs:
            self.add(spec, owner=owner)

    def names(self, kind: ProviderKind) -> list[str]:
        return sorted(name for k, name in self._specs if k == kind)

    def defaults(self, kind: ProviderKind) -> list[str]:
        """The names of ``kind`` whose plugin marked them as the embedded default."""
        return sorted(name for (k, name), (spec, _) in self._specs.items() if k == kind and spec.default)

    def create(self, kind: ProviderKind, name: str, settings: Mapping[str, Any] | None = None) -> Any:
        """Build the provider ``name`` of ``kind``; the error lists the names that exist."""
        found = self._specs.get((kind, name))
        if found is None:
            known = ", ".join(self.names(kind)) or "none installed"
            raise UnknownProviderError(f"no {kind} provider named {name!r} (available: {known})")
        return found[0].factory(settings or {})
