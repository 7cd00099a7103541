"""Function calls of a realtime response, run by the call's agents.

The service asks for functions at the end of a response; the orchestrator runs them as it does
for the pipeline (core's :class:`~artagent.session.tools.ToolRound`: ``tool_called`` and
``tool_completed``, each within ``tool_timeout_s``), a handoff included. The outputs go back as
``function_call_output`` items; when the agent changed (a handoff) or its prompt did (a tool
wrote the call's fields), the session is updated; then the model is asked to go on: the new
agent's greeting first after an announced handoff, the apology after ``max_tool_rounds``
rounds without an answer.
"""

from __future__ import annotations

from typing import Protocol

from artagent.session.conversation import Conversation
from artagent.session.state import Message
from artagent.session.tools import ToolRound

from artagent_voicelive.protocol import ClientEvents
from artagent_voicelive.speaking import Utterance

__all__ = ["FunctionCalls", "say_exactly"]


def say_exactly(text: str) -> str:
    """Response instructions that make the model say one fixed line."""
    return f'Say exactly this to the caller, word for word, and nothing else: "{text}"'


def lead_in(instructions: str, text: str) -> str:
    """Response instructions: the agent's own, opening with a fixed line (a handoff greeting)."""
    return f'{instructions}\n\nBegin your answer by saying, word for word: "{text}" Then go on.'


class Caller(Protocol):
    """What the function calls need of their call (the session)."""

    events: ClientEvents
    conversation: Conversation

    @property
    def turn(self) -> int: ...

    @property
    def history(self) -> list[Message]: ...

    def state_changed(self) -> None: ...

    async def send(self, event: str) -> bool: ...

    async def update_agent(self) -> str:
        """Send ``session.update`` if the agent's set-up changed; its instructions."""
        ...


class FunctionCalls:
    """One call's tool rounds."""

    def __init__(self, host: Caller, round_: ToolRound | None, *, max_rounds: int, apology: str) -> None:
        self._host, self._round = host, round_
        self._max_rounds, self._apology = max_rounds, apology
        self.rounds = 0
        """Rounds since the caller last spoke."""
        self.running = 0

    async def run(self, utterance: Utterance) -> None:
        """Run ``utterance``'s calls, return their outputs, ask the model to go on."""
        host, turn = self._host, self._host.turn
        self.running += 1
        try:
            self.rounds += 1
            for call_id, output in await self._outputs(utterance):
                if not await host.send(host.events.function_output(call_id, output)):
                    return
            instructions = await host.update_agent()
            if host.turn != turn:
                return  # the caller spoke meanwhile: the service answers their turn
            await host.send(host.events.respond(self._next(instructions)))
        finally:
            self.running -= 1

    async def _outputs(self, utterance: Utterance) -> list[tuple[str, str]]:
        calls = utterance.calls
        if self._round is None:
            return [(call.id, '{"error": "this agent has no tools"}') for call in calls]
        recorded = await self._round.run(calls)
        self._host.history.extend(recorded)
        self._host.state_changed()
        return [(call.id, answer.content) for call, answer in zip(calls, recorded[1:], strict=True)]

    def _next(self, instructions: str) -> str | None:
        """This response's instructions: none (the session's), a greeting to lead in with, or
        the apology when the model only ever calls tools."""
        announcements = self._host.conversation.announcements()
        if self.rounds > self._max_rounds:
            return say_exactly(self._apology)
        if announcements:
            return lead_in(instructions, " ".join(announcements))
        return None
