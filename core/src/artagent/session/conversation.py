"""Who the caller is talking to: the session asks its :class:`Conversation` for every model
request, the voice to speak in and what to say on its own.

The agents layer (:mod:`artagent.agents.orchestrator`) implements it with several agents that
hand the call to each other; :class:`SingleAgent` is one model with one system prompt, for a
runtime with no scenario installed and for tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from artagent.events import Event
from artagent.providers import ModelProvider, ModelRequest, VoiceSpec
from artagent.session.state import Message, SessionState
from artagent.session.tools import ToolRunner

__all__ = ["CallHandle", "Conversation", "SingleAgent"]

E = TypeVar("E", bound=Event)


class CallHandle(Protocol):
    """What a conversation may do to its call (the session implements it)."""

    @property
    def call_id(self) -> str: ...

    @property
    def state(self) -> SessionState: ...

    def emit(self, event_type: type[E], **fields: Any) -> E: ...

    def end_after_reply(self, reason: str) -> None: ...

    def escalate(self, reason: str, target: str | None = None) -> None: ...

    def set_outcome(self, outcome: str) -> None: ...


class Conversation(Protocol):
    """The agent side of one call."""

    @property
    def agent(self) -> str:
        """The agent speaking now (``agent`` on events and history entries)."""
        ...

    @property
    def voice(self) -> VoiceSpec | None:
        """The voice of the agent speaking now."""
        ...

    @property
    def tools(self) -> ToolRunner | None:
        """Runs the tool calls of the model's responses (``None``: tool calls are ignored)."""
        ...

    def bind(self, call: CallHandle) -> None:
        """Called once by the session, before anything is said."""
        ...

    def opening(self, *, resumed: bool) -> str:
        """What to say as the call starts (``resumed``: it goes on from a saved state)."""
        ...

    def request(self, messages: Sequence[Message]) -> tuple[ModelProvider, ModelRequest]:
        """The model to ask and what to ask it, given the conversation so far (the history,
        then this reply's tool exchanges). Asked again after every tool round: a tool may have
        handed the call to another agent."""
        ...

    def describe(self, messages: Sequence[Message]) -> ModelRequest:
        """What :meth:`request` would ask, without choosing a model router: a realtime
        speech-to-speech mode answers with its own model and takes the system messages as its
        instructions and the tools as its function tools."""
        ...

    def announcements(self) -> list[str]:
        """What to say now, before the model is asked again (a new agent's greeting after a
        handoff), taken once."""
        ...


class SingleAgent:
    """One model, one system prompt, optional tools: the whole call is one agent. ``model`` is
    ``None`` for a call in a realtime mode, whose own model answers."""

    def __init__(
        self,
        model: ModelProvider | None,
        *,
        system_prompt: str,
        agent: str = "assistant",
        greeting: str = "",
        resume_greeting: str = "",
        tools: ToolRunner | None = None,
        voice: VoiceSpec | None = None,
    ) -> None:
        self._model, self._system_prompt = model, system_prompt
        self._agent, self._greeting, self._resume_greeting = agent, greeting, resume_greeting
        self._tools, self._voice = tools, voice

    @property
    def agent(self) -> str:
        return self._agent

    @property
    def voice(self) -> VoiceSpec | None:
        return self._voice

    @property
    def tools(self) -> ToolRunner | None:
        return self._tools

    def bind(self, call: CallHandle) -> None:
        pass

    def opening(self, *, resumed: bool) -> str:
        return self._resume_greeting if resumed else self._greeting

    def request(self, messages: Sequence[Message]) -> tuple[ModelProvider, ModelRequest]:
        if self._model is None:
            raise LookupError("this call runs in a realtime mode: it has no model router")
        return self._model, self.describe(messages)

    def describe(self, messages: Sequence[Message]) -> ModelRequest:
        specs = tuple(self._tools.specs()) if self._tools is not None else ()
        system = Message(role="system", content=self._system_prompt)
        return ModelRequest(messages=[system, *messages], tools=specs)

    def announcements(self) -> list[str]:
        return []
