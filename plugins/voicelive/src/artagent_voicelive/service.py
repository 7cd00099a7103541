"""The call's side of the connection: what is sent to the service, and the session kept in step
with the call's agents.

The active agent's request (:meth:`~artagent.session.conversation.Conversation.describe`)
becomes the session: its system messages the instructions, its tools (handoffs included) the
functions, its voice the voice. After every tool round the set-up is compared with what was
sent, and a ``session.update`` goes out when it changed (a handoff; a tool wrote fields the
prompt shows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from artagent.session.conversation import Conversation
from artagent.session.state import Message

from artagent_voicelive.config import VoiceLiveConfig
from artagent_voicelive.connection import ConnectionLost, Credentials, RealtimeConnection
from artagent_voicelive.events import ErrorDetail
from artagent_voicelive.protocol import AgentSetup, ClientEvents

__all__ = ["BENIGN_ERRORS", "RESUMED_MESSAGES", "Service"]

BENIGN_ERRORS = frozenset({"response_cancel_not_active", "conversation_already_has_active_response"})
"""Error codes that only say a cancellation raced with the service's own (barge-in)."""
RESUMED_MESSAGES = 40
"""Messages of a resumed call's history given to the new session, most recent last."""


class Service:
    """One call's connection: open, set up, send; closed with the call (or when it fails)."""

    def __init__(
        self,
        config: VoiceLiveConfig,
        credentials: Credentials,
        events: ClientEvents,
        conversation: Conversation,
        *,
        spoken: Callable[[], bool],
    ) -> None:
        self.config, self.events, self.conversation = config, events, conversation
        self._credentials, self._spoken = credentials, spoken
        """``spoken()``: the service has spoken in this session (OpenAI's then refuse a new voice)."""
        self.link: RealtimeConnection | None = None
        self.requested = 0
        """Responses asked for that the service has not started yet."""
        self._setup: AgentSetup | None = None
        self._best_effort: set[str] = set()

    @property
    def up(self) -> bool:
        return self.link is not None

    async def open(self, history: Sequence[Message], *, resumed: bool) -> RealtimeConnection:
        """Connect, send the agent's set-up and, for a resumed call, the conversation so far."""
        link = self.link = await RealtimeConnection.open(self.config, self._credentials)
        self._setup = self.agent_setup(history)
        await link.send(self.events.session_update(self._setup, first=True, voice=True))
        if resumed:
            for message in history[-RESUMED_MESSAGES:]:
                if message.role in ("user", "assistant") and message.content:
                    await link.send(self.events.message(message.role, message.content))
        return link

    def agent_setup(self, history: Sequence[Message]) -> AgentSetup:
        request = self.conversation.describe(history)
        system = [m.content for m in request.messages if m.role == "system" and m.content]
        return AgentSetup(
            instructions="\n\n".join(system),
            tools=tuple(request.tools),
            voice=self.conversation.voice,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
        )

    async def follow_agent(self, history: Sequence[Message]) -> str:
        """After tools ran: ``session.update`` if the agent's set-up changed; its instructions."""
        setup, previous = self.agent_setup(history), self._setup
        if previous is not None and setup != previous:
            voice = setup.voice != previous.voice and self._voice_may_change()
            await self.send(self.events.session_update(setup, first=False, voice=voice))
        self._setup = setup
        return setup.instructions

    def _voice_may_change(self) -> bool:
        """Voice Live changes voices at any time; OpenAI's services only before they spoke."""
        return self.config.kind == "azure-voice-live" or not self._spoken()

    async def send(self, event: str) -> bool:
        """Send a client event; ``False`` when the service is gone (the service loop fails)."""
        link = self.link
        if link is None:
            return False
        try:
            await link.send(event)
        except ConnectionLost:
            return False
        return True

    async def send_best_effort(self, event: str) -> None:
        """A cancellation or truncation: an error answering it does not end the call."""
        self._best_effort.add(self.events.last_id)
        await self.send(event)

    async def request(self, instructions: str | None) -> bool:
        """Ask for a response (``instructions``: this response's own)."""
        self.requested += 1
        return await self.send(self.events.respond(instructions))

    def started(self) -> None:
        """The service started a response (asked for, or its own at the end of a caller turn)."""
        self.requested = max(0, self.requested - 1)

    def harmless(self, error: ErrorDetail) -> bool:
        """An error answering a cancellation or truncation (a race with the service's own)."""
        return bool(error.event_id and error.event_id in self._best_effort) or error.code in BENIGN_ERRORS

    def close(self) -> RealtimeConnection | None:
        """Stop sending; returns the connection for the caller to close."""
        link, self.link = self.link, None
        return link
