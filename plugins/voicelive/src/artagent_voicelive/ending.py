"""How a realtime call ends: an agent's goodbye, a transfer to a human, the runtime hanging up
politely, or the service failing.

An agent's tools ask for the end (``end_call``) or a human (``escalate``) during a tool round;
that happens once the agent's next words have been heard, as in the pipeline. The runtime's own
end (idle caller, maximum duration, worker shutdown) has the model say the farewell. When the
service fails, the failure message is said by ``[session] tts`` instead, and the call ends with
reason ``error``: never a silent line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from artagent.events import AgentResponseGenerated, Event, PlaybackStarted
from artagent.providers import MediaChannel, TTSProvider
from artagent.session.conversation import Conversation
from artagent.session.engine import SessionSettings
from artagent.session.playout import Clock, Playout
from artagent.session.state import Message

from artagent_voicelive.fallback import speak_apology
from artagent_voicelive.functions import say_exactly
from artagent_voicelive.service import Service
from artagent_voicelive.speaking import Speaking, Utterance

__all__ = ["Ending"]

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)
FAREWELL_TIMEOUT_S = 15.0
Transfer = Callable[[str | None, str], Awaitable[bool]]


class Ends(Protocol):
    """What ending needs of its call (the session)."""

    channel: MediaChannel
    clock: Clock
    settings: SessionSettings
    conversation: Conversation

    @property
    def call_id(self) -> str: ...

    @property
    def agent(self) -> str: ...

    @property
    def turn(self) -> int: ...

    @property
    def history(self) -> list[Message]: ...

    def emit(self, event_type: type[E], **fields: Any) -> E: ...

    def at(self) -> float: ...

    def state_changed(self) -> None: ...

    def report(self, error: Exception, *, stage: str, recoverable: bool) -> None: ...

    async def request(self, instructions: str | None) -> bool: ...

    async def heard(self) -> None:
        """Return once the agent has said everything it was asked to."""
        ...


class Ending:
    """One call's ending: what was asked for, and how it is carried out."""

    def __init__(
        self,
        call: Ends,
        speaking: Speaking,
        service: Service,
        playout: Playout,
        *,
        tts: TTSProvider | None,
        sorry: str,
    ) -> None:
        self._call, self._speaking, self._service, self._playout = call, speaking, service, playout
        self._tts, self._sorry = tts, sorry
        self.ending, self.failed, self.reason = False, False, ""
        self._asked: tuple[str, str, str | None] | None = None

    def ask(self, action: str, reason: str, target: str | None = None) -> None:
        """``end`` or ``escalate`` once the agent's next words have been heard."""
        self._asked = (action, reason, target)

    def due(self, utterance: Utterance) -> tuple[str, str, str | None] | None:
        """What to do now that ``utterance`` was heard (not one that only called tools)."""
        if utterance.calls or utterance.stopped or self._asked is None:
            return None
        asked, self._asked = self._asked, None
        return asked

    async def act(self, action: str, reason: str, target: str | None) -> None:
        if action == "escalate":
            await self._transfer(reason, target)
        elif not self.ending:
            self.ending, self.reason = True, reason
            await self._call.channel.hangup(reason)

    async def _transfer(self, reason: str, target: str | None) -> None:
        """To a human through the channel (ACS); a channel that cannot ends the call (reason
        ``escalated``); a failed transfer is apologised for and the agent carries on."""
        call = self._call
        transfer: Transfer | None = getattr(call.channel, "transfer", None)
        if transfer is None:
            await self.act("end", "escalated", None)
            return
        try:
            done = bool(await transfer(target, reason))
        except Exception as error:
            call.report(error, stage="transfer", recoverable=True)
            done = False
        if done:
            self.ending, self.reason = True, "transferred"
        elif call.settings.transfer_failed:
            await call.request(say_exactly(call.settings.transfer_failed))

    async def politely(self, reason: str, *, farewell: bool = True) -> None:
        """Stop the agent, say the farewell (the model's voice, or ``[session] tts`` when the
        service is gone; not when ``farewell`` is False), hang up with ``reason``."""
        if self.ending:
            return
        self.ending, self.reason = True, reason
        await self._speaking.interrupt(barge_in=False)
        text = self._call.settings.farewell if farewell else ""
        if text and not await self._through_model(text):
            await self.say_locally(text)
        await self._call.channel.hangup(reason)

    async def _through_model(self, text: str) -> bool:
        call = self._call
        if not await call.request(say_exactly(text)):
            return False
        try:
            async with asyncio.timeout(FAREWELL_TIMEOUT_S):
                await call.heard()
        except TimeoutError:
            log.warning("call %s: the farewell was not spoken in %g s", call.call_id, FAREWELL_TIMEOUT_S)
        return not self.failed

    async def fail(self, error: Exception, *, stage: str) -> None:
        """The service is gone: say sorry in the runtime's own voice and hang up."""
        if self.failed:
            return
        self.failed = True
        self._call.report(error, stage=stage, recoverable=False)
        link = self._service.close()
        await self._speaking.interrupt(barge_in=False)
        if link is not None:
            await quietly(link.close())
        if not self.ending:
            self.ending, self.reason = True, "error"
            await self.say_locally(self._sorry)
            await self._call.channel.hangup("error")

    async def say_locally(self, text: str) -> None:
        """``text`` in ``[session] tts``'s voice, reported as the agent's words."""
        call = self._call

        def played(at: float) -> None:
            call.emit(PlaybackStarted, agent=call.agent, turn=call.turn)

        voice = call.conversation.voice
        if await speak_apology(
            self._tts, self._playout, call.clock, text, voice=voice, on_first_frame=played
        ):
            call.history.append(Message(role="assistant", content=text, agent=call.agent, at=call.at()))
            call.emit(AgentResponseGenerated, agent=call.agent, text=text, turn=call.turn)
            call.state_changed()
        elif self._tts is None and text:
            log.warning(
                "call %s: no text-to-speech is installed ([session] tts), so the caller was not told "
                "why the call ends (%r); install artagent-local-speech for Piper",
                call.call_id,
                text,
            )


async def quietly(closing: Awaitable[None]) -> None:
    """Close a connection that may be broken already."""
    try:
        async with asyncio.timeout(2.0):
            await closing
    except Exception as error:  # the connection is gone either way
        log.debug("closing the realtime connection: %s", error)
