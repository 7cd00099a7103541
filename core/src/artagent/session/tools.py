"""Tool calls during a reply: what a tool may do to its call, and how a round of calls is run.

A model answers with text, tool calls, or both. The session speaks the text as it comes; when
the model's response ends with tool calls, each call is announced (``tool_called``), run by the
call's :class:`ToolRunner` with a time limit, reported (``tool_completed``), and the model is
asked again with the results, so it can say what it found. The agents layer implements
:class:`ToolRunner` (a registry of typed async functions); the session only needs this much.

A tool acts on its call through :class:`CallControl`: read and write the call's state (the form
fields it collected, the active agent), emit events, and end the call once the agent has said
its last words (:meth:`CallControl.end_after_reply`), the path an agent's "goodbye" takes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import msgspec

from artagent.events import Event, ToolCalled, ToolCompleted
from artagent.observability.calltrace import NO_TRACE, CallTrace
from artagent.providers import ToolCallRequest, ToolSpec
from artagent.session.playout import Clock
from artagent.session.state import Message, SessionState

__all__ = ["CallControl", "EventEmitter", "ToolResult", "ToolRound", "ToolRunner"]

E = TypeVar("E", bound=Event)
_ENCODER = msgspec.json.Encoder()


class EventEmitter(Protocol):
    """Stamps and publishes one call's events (:class:`~artagent.bus.outbox.CallEmitter`)."""

    @property
    def call_id(self) -> str: ...

    @property
    def seq(self) -> int:
        """The last ``seq`` given."""
        ...

    def emit(self, event_type: type[E], **fields: Any) -> E: ...


class CallControl(Protocol):
    """What a tool (or an agent) may do to the call it runs in."""

    @property
    def call_id(self) -> str: ...

    @property
    def state(self) -> SessionState:
        """The call's state; changes are saved with the turn."""
        ...

    def emit(self, event_type: type[E], **fields: Any) -> E: ...

    def end_after_reply(self, reason: str) -> None:
        """Hang up (``call_ended`` with ``reason``) once the current reply has been spoken."""
        ...


class ToolResult(msgspec.Struct, frozen=True, kw_only=True):
    content: Any = None
    """What the model is told: any JSON value (a string is passed as is)."""
    ok: bool = True
    """False: the tool failed; ``content`` says why, for the model to tell the caller."""


class ToolRunner(Protocol):
    """The tools of a call's active agent."""

    def specs(self) -> Sequence[ToolSpec]:
        """The tools offered to the model on the next request."""
        ...

    async def run(self, call: ToolCallRequest, control: CallControl) -> ToolResult:
        """Run one call. An exception is reported to the model as a failed result."""
        ...


class ToolRound:
    """Runs one response's tool calls (concurrently) and returns the messages that record them:
    the assistant's request, then one ``tool`` message per call, in the model's order."""

    def __init__(
        self,
        runner: ToolRunner,
        control: CallControl,
        clock: Clock,
        *,
        agent: str | Callable[[], str],
        timeout_s: float = 10.0,
        elapsed: Callable[[], float] = lambda: 0.0,
        trace: CallTrace = NO_TRACE,
    ) -> None:
        self.runner, self._control, self._clock = runner, control, clock
        self._agent = agent if callable(agent) else lambda: agent
        """The agent making the calls now (a handoff during the round changes it)."""
        self._timeout_s, self._elapsed, self._trace = timeout_s, elapsed, trace

    async def run(self, calls: Sequence[ToolCallRequest]) -> list[Message]:
        at = self._elapsed()
        request = Message(
            role="assistant",
            agent=self._agent(),
            tool_calls=[_openai_tool_call(call) for call in calls],
            at=at,
        )
        results = await asyncio.gather(*(self._run_one(call) for call in calls))
        answers = [
            Message(
                role="tool", content=_as_text(result.content), name=call.name, tool_call_id=call.id, at=at
            )
            for call, result in zip(calls, results, strict=True)
        ]
        return [request, *answers]

    async def _run_one(self, call: ToolCallRequest) -> ToolResult:
        """One call, in its own span (its events, its logs and a handoff it makes are in it)."""
        with self._trace.tool(call.name, call.id, self._agent()) as span:
            result = await self._run_reported(call)
            span.finish(ok=result.ok)
        return result

    async def _run_reported(self, call: ToolCallRequest) -> ToolResult:
        control = self._control
        control.emit(
            ToolCalled, tool=call.name, tool_call_id=call.id, agent=self._agent(), arguments=call.arguments
        )
        started = self._clock.now()
        try:
            async with asyncio.timeout(self._timeout_s):
                result = await self.runner.run(call, control)
        except TimeoutError:
            result = ToolResult(
                ok=False, content={"error": f"{call.name} took longer than {self._timeout_s:g} s"}
            )
        except Exception as error:  # a tool's failure is the model's to explain, not the call's end
            result = ToolResult(ok=False, content={"error": f"{type(error).__name__}: {error}"})
        try:
            _ENCODER.encode(result.content)
        except (TypeError, ValueError) as error:
            result = ToolResult(
                ok=False, content={"error": f"{call.name} returned a non-JSON result: {error}"}
            )
        duration_ms = round((self._clock.now() - started) * 1000, 1)
        control.emit(
            ToolCompleted,
            tool=call.name,
            tool_call_id=call.id,
            ok=result.ok,
            result=result.content,
            duration_ms=duration_ms,
        )
        return result


def _openai_tool_call(call: ToolCallRequest) -> dict[str, Any]:
    arguments = _ENCODER.encode(call.arguments).decode()
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}}


def _as_text(content: Any) -> str:
    return content if isinstance(content, str) else _ENCODER.encode(content).decode()
