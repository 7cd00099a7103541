"""What the session engine tells the trace of its call, and the no-op it gets when not traced.

One trace per call, one span per turn, a child span per stage. The engine, the responder and
the tool round call these methods at the moments :class:`~artagent.session.latency.TurnTimeline`
already marks; while tracing is off every call gets :data:`NO_TRACE`, whose methods do nothing
(no clock read, no allocation), so a worker that exports nothing pays a method call per stage
of a turn and nothing per audio frame. :mod:`artagent.observability.recording` implements them
for a traced call.

The span tree of a call (the names are stable; docs/observability.md shows one)::

    call                          the launcher: lease, state, the whole session
    ├── say                       the greeting, a reprompt, the farewell, an apology
    │   ├── tts.first_audio
    │   └── playout
    └── turn                      caller speech end -> the reply played (or cut: barge_in event)
        ├── end_of_turn           caller stopped speaking -> the turn detector's decision
        ├── stt                   caller stopped speaking -> the final transcript
        ├── chat {model}          one per model request (tokens, model name)
        ├── execute_tool {tool}   one per tool call (a handoff is an event on its span)
        ├── tts.first_audio       first synthesis request -> first audio
        └── playout               first frame sent -> the end of the reply
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from artagent.events import Event
    from artagent.session.latency import TurnTimeline

__all__ = ["NO_TRACE", "CallTrace", "ModelSpan", "ToolSpan", "TurnTrace"]

_NO_CONTEXT: AbstractContextManager[None] = nullcontext()


class ModelSpan:
    """One model request."""

    def first_token(self, at: float) -> None:
        """The request's first text arrived at clock time ``at``."""

    def usage(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        """Tokens the router reported for this request, and the model that answered."""

    def end(self, *, tool_calls: int, error: BaseException | None = None) -> None:
        """The response is over; ``error``: it failed, or was closed (a barge-in)."""


class ToolSpan:
    """One tool call."""

    def finish(self, *, ok: bool) -> None:
        """The tool returned; ``ok`` false: it failed or timed out."""


class TurnTrace:
    """One reply: to a caller's turn, or something the agent says on its own."""

    def active(self) -> AbstractContextManager[None]:
        """Make the reply's span current while it runs: the tasks it starts (synthesis, model
        requests, tools) inherit it, and so do their events and log records."""
        return _NO_CONTEXT

    def model(self, requested: str, agent: str) -> ModelSpan:
        """A model request starting now (``requested``: the model asked for, may be empty)."""
        return _NO_MODEL

    def barge_in(self, heard_ms: float) -> None:
        """The caller spoke over the reply, which was stopped after ``heard_ms`` of audio."""

    def end(self, timeline: TurnTimeline, *, error: BaseException | None = None) -> None:
        """The reply is over (``error``: it failed, or was cancelled): the spans of its stages
        from ``timeline``, then its own end."""


class CallTrace:
    """One call's trace."""

    recording = False

    def active(self) -> AbstractContextManager[None]:
        """The call's span, current for the block: everything that runs the call runs in it."""
        return _NO_CONTEXT

    def traceparent(self) -> str | None:
        """The W3C ``traceparent`` of the current span, for an event emitted now."""
        return None

    def emitted(self, event: Event) -> None:
        """An event of the call was emitted (some become span events or attributes)."""

    def turn(self, number: int, timeline: TurnTimeline, agent: str) -> TurnTrace:
        """The caller's turn ``number``, from ``timeline.speech_end`` (or its end of turn)."""
        return _NO_TURN

    def say(self, what: str, agent: str) -> TurnTrace:
        """Something the agent says on its own, from now (``what``: greeting, reprompt...)."""
        return _NO_TURN

    def tool(self, name: str, call_id: str, agent: str) -> AbstractContextManager[ToolSpan]:
        """A tool call, its span current for the block."""
        return _NO_TOOL_CONTEXT


NO_TRACE = CallTrace()
"""What every call gets while tracing is off; it keeps nothing, so one is shared."""
NO_TURN = TurnTrace()
_NO_TURN, _NO_MODEL = NO_TURN, ModelSpan()
_NO_TOOL_CONTEXT: AbstractContextManager[ToolSpan] = nullcontext(ToolSpan())
