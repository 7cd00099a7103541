"""The agent's side of a realtime call: each response's audio through the paced playout, what
the caller heard of it, and barge-in.

The service generates a response faster than real time; its audio is queued and played out by
core's :class:`~artagent.session.playout.Playout` (20 ms frames, a small lead), one response
after the other. When the caller talks over the agent, the playout stops and the channel is
flushed at once (ACS StopAudio), a response still being generated is cancelled, and the model's
conversation is truncated to the milliseconds the caller actually heard
(``conversation.item.truncate``), so what the model remembers saying is what was heard; the
call's history keeps the same (``interrupted``), as the pipeline does.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from artagent.events import AgentResponseGenerated, Event, PlaybackInterrupted, PlaybackStarted
from artagent.providers import MediaChannel, ToolCallRequest
from artagent.session.latency import SessionMetrics, TurnTimeline
from artagent.session.playout import Clock, Playout
from artagent.session.responder import Clause, Reply
from artagent.session.state import Message

from artagent_voicelive.audio import AgentAudio
from artagent_voicelive.events import (
    AudioDelta,
    AudioDone,
    FunctionCallDone,
    OutputItemAdded,
    ResponseCreated,
    ResponseDone,
    TranscriptDelta,
    TranscriptDone,
)
from artagent_voicelive.protocol import ClientEvents

__all__ = ["Host", "Speaking", "Utterance"]

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)
FRAME_MS = 20.0


class Host(Protocol):
    """What the agent's side needs of its call (the session)."""

    channel: MediaChannel
    clock: Clock
    events: ClientEvents
    metrics: SessionMetrics | None
    model: str

    @property
    def agent(self) -> str: ...

    @property
    def turn(self) -> int: ...

    @property
    def history(self) -> list[Message]: ...

    def emit(self, event_type: type[E], **fields: Any) -> E: ...

    def at(self) -> float: ...

    def state_changed(self) -> None: ...

    def take_timeline(self) -> TurnTimeline: ...

    def carry_timeline(self, timeline: TurnTimeline) -> None:
        """A response that only called tools: the caller's turn is answered by the next one."""
        ...

    async def send_best_effort(self, event: str) -> None: ...

    def utterance_finished(self, utterance: Utterance) -> None: ...


@dataclass
class Utterance:
    """One response of the service: its audio, what it said, the tools it asked for."""

    id: str
    agent: str
    timeline: TurnTimeline
    audio: AgentAudio = field(default_factory=AgentAudio)
    reply: Reply = field(default_factory=Reply)
    items: list[tuple[str, Clause]] = field(default_factory=list)
    """Audio items in order, each with its transcript and frame count."""
    names: dict[str, str] = field(default_factory=dict)
    """Function call item -> the function's name (the preview services name it only here)."""
    calls: list[ToolCallRequest] = field(default_factory=list)
    generated: bool = False
    """``response.done`` has come: nothing more will arrive for it."""
    status: str = ""
    usage: dict[str, Any] | None = None
    stopped: bool = False
    """Cut short here (barge-in, the call ending): nothing more of it is played."""
    idle: bool = False
    """The idle reprompt: it does not count as the conversation going on."""
    task: asyncio.Task[None] | None = None

    def clause(self, item_id: str) -> Clause:
        for known, clause in self.items:
            if known == item_id:
                return clause
        clause = Clause("", agent=self.agent)
        self.items.append((item_id, clause))
        self.reply.clauses.append(clause)
        return clause

    @property
    def audible(self) -> bool:
        return any(clause.frames for _, clause in self.items)


class Speaking:
    """The responses of one call, played one after the other."""

    def __init__(self, host: Host, playout: Playout) -> None:
        self._host, self._playout = host, playout
        self._live: dict[str, Utterance] = {}
        self._current: Utterance | None = None
        self._last: asyncio.Task[None] | None = None
        self.spoken = False
        """The service has spoken in this session (OpenAI's refuse a new voice after that)."""
        self.interruptions = 0

    @property
    def busy(self) -> bool:
        """A response is being generated or played."""
        return bool(self._live) or self._playout.playing

    @property
    def talking(self) -> bool:
        """The agent is saying something other than the idle reprompt."""
        return any(not u.idle for u in self._live.values())

    def mark_idle(self, response_id: str) -> None:
        utterance = self._live.get(response_id)
        if utterance is not None:
            utterance.idle = True

    # -- the service's response events ---------------------------------------------------------
    async def created(self, event: ResponseCreated) -> None:
        timeline = self._host.take_timeline()
        timeline.model_request = timeline.model_request or self._host.clock.now()
        self._live[event.response.id] = Utterance(event.response.id, self._host.agent, timeline)
        self._live[event.response.id].reply.timeline = timeline

    async def item_added(self, event: OutputItemAdded) -> None:
        utterance = self._live.get(event.response_id)
        if utterance is not None and event.item.type == "function_call":
            utterance.names[event.item.id] = event.item.name or ""

    async def audio(self, event: AudioDelta) -> None:
        utterance = self._live.get(event.response_id)
        if utterance is None or utterance.stopped:
            return  # a cancelled response's last deltas
        if utterance.timeline.model_first_token is None:
            utterance.timeline.model_first_token = self._host.clock.now()
        utterance.clause(event.item_id).frames += utterance.audio.feed(event.delta)
        self.spoken = True
        if utterance.task is None:
            utterance.task = asyncio.create_task(self._play(utterance, self._last), name="realtime-playout")
            self._last = utterance.task

    async def audio_done(self, event: AudioDone) -> None:
        utterance = self._live.get(event.response_id)
        if utterance is not None:
            utterance.clause(event.item_id).complete = True

    async def transcript(self, event: TranscriptDelta) -> None:
        utterance = self._live.get(event.response_id)
        if utterance is not None and not utterance.stopped:
            clause = utterance.clause(event.item_id)
            clause.text += event.delta

    async def transcript_done(self, event: TranscriptDone) -> None:
        utterance = self._live.get(event.response_id)
        if utterance is not None and not utterance.stopped:
            utterance.clause(event.item_id).text = event.transcript or event.text

    async def function_call(self, event: FunctionCallDone) -> None:
        utterance = self._live.get(event.response_id)
        if utterance is None:
            return
        try:
            arguments = json.loads(event.arguments or "{}")
        except json.JSONDecodeError:
            arguments = {}  # the tool's validation tells the model what is missing
        name = event.name or utterance.names.get(event.item_id, "")
        call = ToolCallRequest(
            id=event.call_id, name=name, arguments=arguments if isinstance(arguments, dict) else {}
        )
        utterance.calls.append(call)

    async def done(self, event: ResponseDone) -> Utterance | None:
        """The response is complete; returns it unless it was cut short."""
        utterance = self._live.get(event.response.id)
        if utterance is None:
            return None
        utterance.generated, utterance.status = True, event.response.status
        utterance.usage = event.response.usage
        for _, clause in utterance.items:
            clause.complete = True
        tail = utterance.audio.close() if not utterance.stopped else 0
        if utterance.items:
            utterance.items[-1][1].frames += tail
        if utterance.task is None:  # nothing to play: it is over already
            self._live.pop(utterance.id, None)
            if utterance.timeline.speech_end is not None and not utterance.stopped:
                self._host.carry_timeline(utterance.timeline)  # the answer after its tools
            self._host.utterance_finished(utterance)
        return None if utterance.stopped else utterance

    # -- playing -------------------------------------------------------------------------------
    async def _play(self, utterance: Utterance, previous: asyncio.Task[None] | None) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait({previous})
        if utterance.stopped:
            return
        self._current = utterance

        def first_frame(at: float) -> None:
            utterance.timeline.first_frame_sent = at
            self._host.emit(PlaybackStarted, agent=utterance.agent, turn=self._host.turn)

        try:
            await self._playout.play(utterance.audio.frames, on_first_frame=first_frame)
        except Exception:  # the channel cannot send (the caller is gone): its frames end the call
            log.warning("response %s: the channel refused its audio", utterance.id, exc_info=True)
            utterance.stopped = True
        finally:
            if self._current is utterance:
                self._current = None
        if utterance.stopped:
            return  # interrupted: remembered by interrupt()
        self._live.pop(utterance.id, None)
        self._remember(utterance, utterance.reply.segments(), interrupted=False)
        self._host.utterance_finished(utterance)

    async def interrupt(self, *, barge_in: bool, flush: bool = True) -> float:
        """Stop the agent now: the playout, the channel's buffer (``flush``), the service's
        response, and the model's memory of what was not heard; ``barge_in``: the caller talked
        over the agent (``playback_interrupted``, counted). Returns the ms the caller heard."""
        current, heard = self._current, 0.0
        if self._playout.playing:
            heard = self._playout.stop()
            if flush:
                await self._host.channel.flush()
        live = [u for u in self._live.values() if not u.stopped]
        self._live.clear()
        for utterance in live:
            utterance.stopped = True
            utterance.audio.drop()
        if any(not u.generated for u in live):
            await self._host.send_best_effort(self._host.events.cancel())
        for utterance in live:
            if utterance.audible:
                await self._truncate(utterance, heard if utterance is current else 0.0)
        if current is None or current.timeline.first_frame_sent is None:
            return heard  # nothing of it was heard: it is simply dropped
        if barge_in:
            self._host.emit(PlaybackInterrupted, agent=current.agent, turn=self._host.turn, heard_ms=heard)
        self._remember(current, current.reply.heard_segments(heard), interrupted=True)
        if barge_in:
            self.interruptions += 1
            if self._host.metrics is not None:
                self._host.metrics.interruption("barge_in")
        return heard

    async def _truncate(self, utterance: Utterance, heard_ms: float) -> None:
        """Each audio item is cut where the caller stopped hearing it (0: not heard at all)."""
        left = heard_ms
        for item_id, clause in utterance.items:
            item_ms = clause.frames * FRAME_MS
            if left < item_ms:
                await self._host.send_best_effort(self._host.events.truncate(item_id, max(0.0, left)))
            left -= item_ms

    def _remember(self, utterance: Utterance, segments: list[tuple[str, str]], *, interrupted: bool) -> None:
        """The utterance in the history and as ``agent_response_generated``, as the pipeline
        reports a reply: the latency (speech end to first frame) once per caller turn."""
        host, timeline = self._host, utterance.timeline
        latency = timeline.latency() if timeline.speech_end is not None else None
        if latency is not None and host.metrics is not None and not interrupted:
            host.metrics.observe(latency)
        segments = [(a, t.strip()) for a, t in segments if t.strip()] or [(utterance.agent, "")]
        usage = _usage(utterance.usage, host.model)
        for index, (agent, text) in enumerate(segments):
            last = index == len(segments) - 1
            cut = interrupted and last
            host.history.append(
                Message(role="assistant", content=text, agent=agent, interrupted=cut, at=host.at())
            )
            host.emit(
                AgentResponseGenerated,
                agent=agent,
                text=text,
                turn=host.turn,
                latency=latency if index == 0 else None,
                interrupted=cut,
                **(usage if last else {}),
            )
        host.state_changed()


def _usage(usage: dict[str, Any] | None, model: str) -> dict[str, Any]:
    if not usage:
        return {}
    return {
        "model": model or None,
        "prompt_tokens": int(usage.get("input_tokens") or 0),
        "completion_tokens": int(usage.get("output_tokens") or 0),
    }
