"""Session modes: how a call is driven once a channel has handed it over.

The ``pipeline`` mode is core's own :class:`~artagent.session.engine.Session`: VAD, STT, the
agents' model routers and TTS. A *realtime* mode hands the call's audio to a speech-to-speech
model that listens, thinks and speaks in one session (Azure Voice Live, the OpenAI Realtime
API): a plugin registers it with ``register_providers`` as a ``ProviderSpec`` of kind
``realtime`` whose factory returns a :class:`RealtimeMode`. ``[session] mode`` is the default
and ``[session.modes]`` chooses per scenario or per called number.

Whatever the mode, the launcher admits the call, claims its lease, loads or creates its
:class:`~artagent.session.state.SessionState`, numbers its events and builds its agents (the
orchestrator: prompts, tools, handoffs, escalation); a realtime mode gets all of it in a
:class:`RealtimeCall` and returns a :class:`CallSession` that the launcher runs like the pipeline's.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from artagent.agents.selection import ScenarioSelector
from artagent.config import ConfigError, ConfigIssue, SessionConfig
from artagent.providers import MediaChannel, TTSProvider
from artagent.session.conversation import Conversation
from artagent.session.engine import SessionSettings
from artagent.session.latency import SessionMetrics
from artagent.session.playout import Clock
from artagent.session.state import Message, SessionState
from artagent.session.tools import EventEmitter

__all__ = ["PIPELINE", "CallSession", "ModeSelector", "RealtimeCall", "RealtimeMode"]

PIPELINE = "pipeline"
"""The name of core's own mode (STT -> agents -> TTS)."""


@runtime_checkable
class CallSession(Protocol):
    """One running call, whichever mode drives it (what ``runtime.sessions.run`` returns and
    ``on_start`` receives)."""

    @property
    def call_id(self) -> str: ...

    @property
    def state(self) -> SessionState: ...

    @property
    def history(self) -> list[Message]: ...

    async def run(self) -> None:
        """Drive the call until the caller goes away or it is ended; emits ``call_started``
        first and ``call_ended`` last, whatever happens in between."""
        ...

    async def end(self, reason: str, *, farewell: bool = True) -> None:
        """End the call politely (the farewell, then hang up) with ``reason``; without the
        farewell when the caller can no longer hear it (their media stream failed)."""
        ...

    async def submit_text(self, text: str, *, source: str = "text") -> None:
        """A whole caller turn given as text (typed, or keyed in as DTMF)."""
        ...

    async def until_quiet(self) -> None:
        """Return once the call runs and the agent has said all it had to say for now."""
        ...


@dataclass(frozen=True)
class RealtimeCall:
    """What a realtime mode gets for one call: everything the launcher set up."""

    channel: MediaChannel
    emitter: EventEmitter
    """Stamps the call's events (numbered after a resumed call's saved ``seq``)."""
    clock: Clock
    settings: SessionSettings
    """``[session]`` for this call: greeting, farewell, apology, barge-in, tool limits..."""
    state: SessionState
    """The call's state; a non-empty history means the call is being resumed."""
    conversation: Conversation
    """The call's agents: :meth:`~Conversation.describe` gives the active agent's prompt and
    tools, its ``tools`` runner runs them (handoffs included)."""
    on_state_changed: Callable[[], None]
    """Call after every turn: the state is saved in the background."""
    tts: TTSProvider | None = None
    """``[session] tts``, when one is installed: the voice of last resort, for saying sorry
    when the realtime service fails."""
    metrics: SessionMetrics | None = None
    language: str | None = None
    """``[session] language`` (e.g. "en"), for the service's transcription of the caller."""
    caller: str | None = None
    callee: str | None = None


@runtime_checkable
class RealtimeMode(Protocol):
    """A speech-to-speech session mode, built once per worker by its ``realtime`` factory."""

    def open(self, call: RealtimeCall) -> CallSession:
        """The session of one call (no I/O yet: the launcher awaits its ``run()``)."""
        ...


class ModeSelector:
    """``[session] mode`` and ``[session.modes]``, checked at start-up against the realtime
    modes installed and the scenarios known, then asked once per call."""

    def __init__(
        self, config: SessionConfig, realtime: Collection[str], scenarios: ScenarioSelector | None = None
    ) -> None:
        self._selector = scenarios
        known = sorted({PIPELINE, *realtime})
        listed = ", ".join(known)
        rules = [("session.mode", config.mode)]
        rules += [(f"session.modes.scenarios.{k}", v) for k, v in config.modes.scenarios.items()]
        rules += [(f'session.modes.numbers."{k}"', v) for k, v in config.modes.numbers.items()]
        issues = [
            ConfigIssue(key, f"no session mode named {mode!r} ({listed})")
            for key, mode in rules
            if mode not in known
        ]
        installed = scenarios.catalog.scenarios if scenarios is not None else {}
        listed_scenarios = ", ".join(sorted(installed)) or "none installed"
        issues += [
            ConfigIssue(f"session.modes.scenarios.{name}", f"no scenario named {name!r} ({listed_scenarios})")
            for name in config.modes.scenarios
            if name not in installed
        ]
        if issues:
            raise ConfigError(issues)
        self.default = config.mode
        self._scenarios: Mapping[str, str] = dict(config.modes.scenarios)
        self._numbers: Mapping[str, str] = dict(config.modes.numbers)

    @property
    def used(self) -> set[str]:
        """Every mode some call may run in."""
        return {self.default, *self._scenarios.values(), *self._numbers.values()}

    def choose(
        self, *, channel: str, scenario: str | None = None, callee: str | None = None, agents: bool = True
    ) -> str:
        """The called number's mode, else the scenario's (``scenario``, or the one ``[agents]``
        chooses for the channel and number when ``agents``), else the default."""
        if scenario is None and agents and self._selector is not None:
            chosen = self._selector.select(channel=channel, callee=callee)
            scenario = chosen.name if chosen is not None else None
        if callee and callee in self._numbers:
            return self._numbers[callee]
        if scenario and scenario in self._scenarios:
            return self._scenarios[scenario]
        return self.default
