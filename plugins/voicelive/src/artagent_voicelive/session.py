"""One call in the ``voicelive`` mode: the caller's audio to a realtime model and its voice back.

The call is one task group, like the pipeline's: the inbound loop (caller frames, resampled,
``input_audio_buffer.append``), the service loop (its events, dispatched to the caller's side,
the agent's side and the function calls) and the watchdog (silence, maximum duration). The
call's agents are the orchestrator's: the active agent's prompt is the session's instructions,
its tools (handoffs included) the session's functions, its voice the session's voice.

Failure is never a silent line: a service that cannot be reached, closes the connection, or
sends an ``error`` event (other than one answering a cancellation or truncation, which may race
with the service's own) ends the call with ``error_occurred``, the failure message spoken by
``[session] tts`` when one is installed, and ``call_ended`` (reason ``error``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from artagent.events import (
    CallEnded,
    CallStarted,
    ErrorOccurred,
    EscalationRequested,
    Event,
    TranscriptionReceived,
)
from artagent.session.latency import TurnTimeline
from artagent.session.modes import RealtimeCall
from artagent.session.playout import Playout
from artagent.session.state import Message, SessionState
from artagent.session.tools import ToolRound

from artagent_voicelive import events as ev
from artagent_voicelive.audio import CallerAudio
from artagent_voicelive.config import VoiceLiveConfig
from artagent_voicelive.connection import ConnectError, Credentials
from artagent_voicelive.ending import Ending, quietly
from artagent_voicelive.functions import FunctionCalls, say_exactly
from artagent_voicelive.listening import Listening
from artagent_voicelive.protocol import ClientEvents
from artagent_voicelive.service import Service
from artagent_voicelive.speaking import Speaking, Utterance
from artagent_voicelive.watchdog import Watchdog

__all__ = ["RealtimeServiceError", "RealtimeSession"]

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)
Handler = Callable[[Any], Awaitable[None]]


class RealtimeServiceError(RuntimeError):
    """The service sent an ``error`` event, or a response failed."""


class RealtimeSession:
    """A :class:`~artagent.session.modes.CallSession` for the launcher, and the call handle the
    orchestrator and tools act through."""

    def __init__(self, call: RealtimeCall, config: VoiceLiveConfig, credentials: Credentials) -> None:
        s = self.settings = call.settings
        self.channel, self.clock, self.metrics = call.channel, call.clock, call.metrics
        self.state: SessionState = call.state
        self.conversation, self.model = call.conversation, config.model
        self.resumed = bool(call.state.history)
        self.events = ClientEvents(config, barge_in=s.barge_in, language=call.language)
        self._call, self._config = call, config
        self._outcome = ""
        self._playout = Playout.for_channel(call.channel, call.clock, lead_ms=s.lead_ms)
        self._speaking = Speaking(self, self._playout)
        self._listening = Listening(self, CallerAudio(call.clock, config.input_sample_rate))
        self._service = Service(config, credentials, self.events, call.conversation, spoken=self._spoken)
        self._functions = FunctionCalls(
            self, self._tool_round(), max_rounds=s.max_tool_rounds, apology=s.apology
        )
        self._ending = Ending(
            self, self._speaking, self._service, self._playout, tts=call.tts, sorry=config.failure_message
        )
        self._watchdog: Watchdog | None = None
        self._timeline: TurnTimeline | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._group: asyncio.TaskGroup | None = None
        self._running, self._quiet = asyncio.Event(), asyncio.Event()
        self._started_at = self.last_activity = 0.0
        self._reprompt_pending, self._caller_speaking = False, False

    def _tool_round(self) -> ToolRound | None:
        runner = self.conversation.tools
        if runner is None:
            return None
        s = self.settings
        return ToolRound(
            runner, self, self.clock, agent=lambda: self.agent, timeout_s=s.tool_timeout_s, elapsed=self.at
        )

    def _spoken(self) -> bool:
        return self._speaking.spoken

    # -- what the call is --------------------------------------------------------------------
    @property
    def call_id(self) -> str:
        return self.state.call_id

    @property
    def history(self) -> list[Message]:
        return self.state.history

    @property
    def turn(self) -> int:
        return self.state.turn

    @property
    def agent(self) -> str:
        return self.conversation.agent

    @property
    def ending(self) -> bool:
        return self._ending.ending

    @property
    def talking(self) -> bool:
        return self._caller_speaking or bool(self._functions.running) or self._speaking.talking

    def emit(self, event_type: type[E], **fields: Any) -> E:
        return self._call.emitter.emit(event_type, **fields)

    def at(self) -> float:
        return round(self.clock.now() - self._started_at, 3)

    def state_changed(self) -> None:
        self.state.seq = self._call.emitter.seq
        self._call.on_state_changed()

    def end_after_reply(self, reason: str) -> None:
        """An agent's goodbye: hang up once its next words have been spoken."""
        self._ending.ask("end", reason)

    def escalate(self, reason: str, target: str | None = None) -> None:
        """A human takes over once the agent's hand-off line has been spoken (see :meth:`_transfer`)."""
        self.emit(EscalationRequested, reason=reason, target=target, agent=self.agent)
        self._ending.ask("escalate", reason, target)

    def set_outcome(self, outcome: str) -> None:
        """The call's business result (``call_ended.outcome``), as in the pipeline."""
        self._outcome = outcome

    # -- the call ----------------------------------------------------------------------------
    async def run(self) -> None:
        s = self.settings
        self._started_at = self.last_activity = self.clock.now()
        self.emit(CallStarted, channel=s.channel, worker=s.worker, resumed=self.resumed)
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                self.conversation.bind(self)
                self._watchdog = Watchdog(self, self._started_at)
                self._spawn(self._serve(), "realtime-service")
                self._spawn(self._watchdog.run(), "realtime-watchdog")
                await self._inbound()
                await self._finish()
        except BaseException:
            self._ending.reason = self._ending.reason or "error"
            raise
        finally:
            self._group = None
            self.emit(
                CallEnded,
                reason=self._ending.reason or "caller_hangup",
                outcome=self._outcome or _outcome_of(self._ending.reason),
                duration_ms=round((self.clock.now() - self._started_at) * 1000, 1),
                turns=self.turn,
                barge_ins=self._speaking.interruptions,
            )
            self.state_changed()

    async def end(self, reason: str, *, farewell: bool = True) -> None:
        """Stop the agent, say the farewell (unless ``farewell`` is False), hang up with ``reason``."""
        await self._ending.politely(reason, farewell=farewell)

    async def submit_text(self, text: str, *, source: str = "text") -> None:
        """A typed (or keyed-in) caller turn: to the model as a text message, then a response."""
        text = text.strip()
        if not text or self.ending or not self._service.up:
            return
        self.emit(TranscriptionReceived, text=text, is_final=True, source=source)
        if self.settings.barge_in:
            await self._speaking.interrupt(barge_in=True)
        self.state.turn += 1
        self.history.append(Message(role="user", content=text, agent=self.agent, at=self.at()))
        self.state_changed()
        now = self.clock.now()
        self.turn_ended(TurnTimeline(speech_end=now, final_transcript=now, end_of_turn=now))
        await self.send(self.events.message("user", text))
        await self.request(None)

    async def until_quiet(self) -> None:
        await self._running.wait()
        await self._quiet.wait()

    # -- the service -------------------------------------------------------------------------
    async def _serve(self) -> None:
        try:
            link = await self._service.open(self.history, resumed=self.resumed)
            opening = self.conversation.opening(resumed=self.resumed)
            if opening:
                await self.request(say_exactly(opening))
            self._running.set()
            self._settle()
            handlers = self._handlers()
            async for event in link.events():
                handler = handlers.get(type(event))
                if handler is not None:
                    await handler(event)
                self._settle()
        except ConnectError as error:
            await self._ending.fail(error, stage="connect")
        except Exception as error:  # the connection lost, an error event, the protocol broken
            await self._ending.fail(error, stage="realtime")
        finally:
            self._running.set()
            self._quiet.set()

    def _handlers(self) -> dict[type[ev.ServerEvent], Handler]:
        listening, speaking = self._listening, self._speaking
        return {
            ev.ServerError: self._on_error,
            ev.SpeechStarted: self._on_speech_started,
            ev.SpeechStopped: listening.speech_stopped,
            ev.BufferCommitted: listening.committed,
            ev.TranscriptionDelta: listening.partial,
            ev.TranscriptionCompleted: listening.final,
            ev.TranscriptionFailed: listening.failed,
            ev.ResponseCreated: self._on_response_created,
            ev.OutputItemAdded: speaking.item_added,
            ev.AudioDelta: speaking.audio,
            ev.AudioDone: speaking.audio_done,
            ev.TranscriptDelta: speaking.transcript,
            ev.TranscriptDone: speaking.transcript_done,
            ev.FunctionCallDone: speaking.function_call,
            ev.ResponseDone: self._on_response_done,
        }

    async def send(self, event: str) -> bool:
        return await self._service.send(event)

    async def send_best_effort(self, event: str) -> None:
        await self._service.send_best_effort(event)

    async def update_agent(self) -> str:
        return await self._service.follow_agent(self.history)

    async def request(self, instructions: str | None) -> bool:
        """Ask the model for a response (``instructions``: its own, a line to say)."""
        self._quiet.clear()
        return await self._service.request(instructions)

    async def heard(self) -> None:
        await self._quiet.wait()

    async def reprompt(self, text: str) -> None:
        self._reprompt_pending = True
        await self.request(say_exactly(text))

    # -- the service's events ----------------------------------------------------------------
    async def _on_error(self, event: ev.ServerError) -> None:
        error = event.error
        if self._service.harmless(error):
            log.info("call %s: the service answered a cancellation: %s", self.call_id, error.message)
            return
        raise RealtimeServiceError(f"{error.type or 'error'} {error.code or ''}: {error.message}".strip())

    async def _on_speech_started(self, event: ev.SpeechStarted) -> None:
        self.last_activity, self._caller_speaking = self.clock.now(), True
        if self._watchdog is not None:
            self._watchdog.reprompted = False
        await self._listening.speech_started(event)
        if self.settings.barge_in and not self.ending:
            await self._speaking.interrupt(barge_in=True)

    def turn_ended(self, timeline: TurnTimeline) -> None:
        """The caller's turn is over: the next response's latency is measured from it."""
        self._timeline, self._caller_speaking = timeline, False
        self._functions.rounds = 0
        self.last_activity = self.clock.now()

    def take_timeline(self) -> TurnTimeline:
        timeline, self._timeline = self._timeline or TurnTimeline(), None
        return timeline

    def carry_timeline(self, timeline: TurnTimeline) -> None:
        if self._timeline is None:
            self._timeline = timeline

    async def _on_response_created(self, event: ev.ResponseCreated) -> None:
        self._service.started()
        await self._speaking.created(event)
        if self._reprompt_pending:
            self._reprompt_pending = False
            self._speaking.mark_idle(event.response.id)

    async def _on_response_done(self, event: ev.ResponseDone) -> None:
        if event.response.status == "failed":
            details = event.response.status_details or {}
            raise RealtimeServiceError(f"the response failed: {details.get('error') or details}")
        utterance = await self._speaking.done(event)
        if utterance is not None and utterance.calls and utterance.status == "completed":
            self._quiet.clear()
            self._spawn(self._run_functions(utterance), "realtime-functions")

    async def _run_functions(self, utterance: Utterance) -> None:
        try:
            await self._functions.run(utterance)
        finally:
            self._settle()

    def utterance_finished(self, utterance: Utterance) -> None:
        """A response has been heard (or had nothing to say): act on what its tools asked."""
        if not utterance.idle:
            self.last_activity = self.clock.now()
        action = self._ending.due(utterance)
        if action is not None:
            self._spawn(self._ending.act(*action), "realtime-action")
        self._settle()

    def _settle(self) -> None:
        if self._speaking.busy or self._functions.running or self._service.requested:
            self._quiet.clear()
        else:
            self._quiet.set()

    async def _inbound(self) -> None:
        """Caller frames to the service as they come; until it is there, they are dropped."""
        audio = self._listening.audio
        async for frame in self.channel.frames():
            if self._service.up and self._running.is_set():
                await self.send(self.events.append(audio.take(frame)))

    async def _finish(self) -> None:
        """The caller is gone: stop everything, close the connection."""
        await self._speaking.interrupt(barge_in=False, flush=False)
        for task in list(self._tasks):
            task.cancel()
        link = self._service.close()
        if link is not None:
            await quietly(link.close())
        self._quiet.set()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        if self._group is None:
            coro.close()
            return
        task = self._group.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def report(self, error: Exception, *, stage: str, recoverable: bool) -> None:
        self.emit(
            ErrorOccurred, kind=type(error).__name__, message=str(error), stage=stage, recoverable=recoverable
        )


def _outcome_of(reason: str | None) -> str:
    return reason if reason in ("transferred", "escalated") else ""
