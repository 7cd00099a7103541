"""The session engine: one call driven end to end, as one structured task group.

Three tasks share the call: the inbound loop (caller frames -> VAD -> :class:`SpeechSegmenter`
-> STT, barge-in), the STT results loop (transcripts -> events, the caller's words) and at most
one reply (greeting, model answer, apology or goodbye, spoken by the
:class:`~artagent.session.responder.Speaker`). The turn ends when the caller has been silent
for what the turn detector asks, given their words, and the final transcript is in.

Barge-in: caller speech while a reply runs stops the playout, flushes the channel at once
(within the frame that decided the speech start) and cancels the reply task, which closes the
model and TTS streams. The history keeps only what the caller heard (see
:meth:`~artagent.session.responder.Reply.heard_text`); a reply not yet heard is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Protocol, TypeVar

import msgspec

from artagent.events import (
    AgentResponseGenerated,
    CallEnded,
    CallStarted,
    ErrorOccurred,
    Event,
    PlaybackInterrupted,
    PlaybackStarted,
    SpeechStarted,
    SpeechStopped,
    TranscriptionReceived,
)
from artagent.providers import (
    MediaChannel,
    ModelProvider,
    ModelRequest,
    STTStream,
    Transcript,
    TTSProvider,
    TurnDetector,
    VADStream,
)
from artagent.session.latency import LatencyMetrics, TurnTimeline
from artagent.session.playout import Clock, Playout
from artagent.session.responder import Reply, Speaker, model_clauses, text_clauses
from artagent.session.state import Message
from artagent.session.turns import SegmenterSettings, SpeechSegmenter

__all__ = ["EventEmitter", "Session", "SessionSettings"]

E = TypeVar("E", bound=Event)


class EventEmitter(Protocol):
    """Stamps and publishes one call's events (:class:`~artagent.bus.outbox.CallEmitter`)."""

    def emit(self, event_type: type[E], **fields: Any) -> E: ...


class SessionSettings(msgspec.Struct, frozen=True, kw_only=True):
    greeting: str = "Hello, how can I help you today?"
    """Spoken when the call starts; empty: say nothing."""
    system_prompt: str = "You are a helpful voice assistant. Answer briefly."
    apology: str = "Sorry, I had a problem there. Could you say that again?"
    """Spoken when a provider fails during a reply; the call goes on."""
    farewell: str = "Thank you for calling. Goodbye."
    """Spoken by :meth:`Session.end` before hanging up; empty: hang up at once."""
    agent: str = "assistant"
    channel: str = ""
    """The channel adapter's name, for ``call_started``."""
    lead_ms: float = 60.0
    """Agent audio buffered ahead on the far side (what a barge-in flush throws away)."""
    barge_in_min_speech_ms: float = 60.0
    """Caller speech that counts as started (and interrupts the agent)."""
    idle_reprompt_s: float = 8.0
    """Silence on both sides this long (after the agent finished speaking) -> the reprompt."""
    idle_reprompt: str = "Are you still there?"
    idle_hangup_s: float = 20.0
    """Silence this long (the reprompt does not reset it) -> the farewell and hang-up."""
    max_duration_s: float = 3600.0
    """The call is ended politely (reason ``max_duration``) once it has lasted this long."""


class Session:
    """One call. Build it with its providers, ``await run()``; ``end(reason)`` hangs up politely."""

    def __init__(
        self,
        *,
        channel: MediaChannel,
        vad: VADStream,
        stt: STTStream,
        tts: TTSProvider,
        turn_detector: TurnDetector,
        model: ModelProvider,
        emitter: EventEmitter,
        clock: Clock,
        settings: SessionSettings | None = None,
        metrics: LatencyMetrics | None = None,
    ) -> None:
        self.settings = settings or SessionSettings()
        self._channel, self._vad, self._stt = channel, vad, stt
        self._turn_detector, self._model = turn_detector, model
        self._emitter, self._clock, self._metrics = emitter, clock, metrics
        self._segmenter = SpeechSegmenter(SegmenterSettings(start_ms=self.settings.barge_in_min_speech_ms))
        self._playout = Playout(channel.send, clock, lead_ms=self.settings.lead_ms)
        self._speaker = Speaker(tts, self._playout, clock)
        self.history: list[Message] = []
        """The conversation so far (user and assistant messages; the system prompt is added
        to each model request)."""
        self.turn = 0
        self._group: asyncio.TaskGroup | None = None
        self._reply: Reply | None = None
        self._reply_task: asyncio.Task[None] | None = None
        self._words: list[str] = []
        self._awaiting_finals = 0
        self._speech_end: float | None = None
        self._final_at: float | None = None
        self._ending = False
        self._end_reason: str | None = None
        self._started_at = 0.0
        self._last_activity = 0.0
        self._reprompted = False
        self._reprompt_task: asyncio.Task[None] | None = None

    # -- the call ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Drive the call until the caller goes away or :meth:`end` hangs up."""
        self._started_at = self._last_activity = self._clock.now()
        self._emit(CallStarted, channel=self.settings.channel)
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                results = group.create_task(self._results_loop(), name="stt-results")
                watchdog = group.create_task(self._watchdog(), name="idle-watchdog")
                if self.settings.greeting:
                    self._start_reply(self._say(self.settings.greeting))
                await self._inbound_loop()
                watchdog.cancel()
                await self._finish(results)
        except BaseException:
            self._end_reason = self._end_reason or "error"
            raise
        finally:
            self._group = None
            duration_ms = round((self._clock.now() - self._started_at) * 1000, 1)
            self._emit(CallEnded, reason=self._end_reason or "caller_hangup", duration_ms=duration_ms)

    async def end(self, reason: str) -> None:
        """End the call politely: stop any reply, say the farewell, hang up with ``reason``."""
        if self._ending:
            return
        self._ending, self._end_reason = True, reason
        await self._cancel_reply(wait=True)
        if self.settings.farewell:
            await self._speak(Reply(), text_clauses(self.settings.farewell))
        await self._channel.hangup(reason)

    async def _finish(self, results: asyncio.Task[None]) -> None:
        await self._cancel_reply(wait=True)
        await self._stt.close()
        results.cancel()

    # -- caller audio ------------------------------------------------------------------------
    async def _inbound_loop(self) -> None:
        async for frame in self._channel.frames():
            change = self._segmenter.update(await self._vad.speech_probability(frame))
            if change == "speech_started":
                await self._on_speech_started()
            await self._stt.push(frame)
            if change == "speech_stopped":
                await self._on_speech_stopped()
            self._maybe_end_turn()

    async def _on_speech_started(self) -> None:
        self._touch()
        self._reprompted = False
        self._emit(SpeechStarted, offset_ms=self._segmenter.speech_start_ms)
        if self._reply_task is not None and not self._reply_task.done() and not self._ending:
            await self._barge_in()

    async def _on_speech_stopped(self) -> None:
        self._touch()
        seg = self._segmenter
        self._speech_end = self._clock.now() - (seg.position_ms - seg.speech_stop_ms) / 1000
        duration = seg.speech_stop_ms - seg.speech_start_ms
        self._emit(SpeechStopped, offset_ms=seg.speech_stop_ms, duration_ms=duration)
        self._awaiting_finals += 1
        await self._stt.end_of_speech()

    async def _barge_in(self) -> None:
        reply = self._reply
        heard_ms = await self._cancel_reply(wait=False)
        if reply is None or reply.timeline.first_frame_sent is None:
            return  # nothing of it was heard: the reply is simply dropped
        self._emit(PlaybackInterrupted, agent=self.settings.agent, turn=self.turn, heard_ms=heard_ms)
        self._remember(reply, reply.heard_text(heard_ms), interrupted=True)

    async def _cancel_reply(self, *, wait: bool) -> float:
        """Stop the running reply (flushing what the far side buffered); returns the ms heard."""
        task, heard_ms = self._reply_task, 0.0
        if task is None or task.done() or task is asyncio.current_task():
            return heard_ms  # a reply ending the call (an agent's goodbye) is left to finish
        if self._playout.playing:
            heard_ms = self._playout.stop()
            await self._channel.flush()
        task.cancel()
        if wait:
            await asyncio.wait({task})
        return heard_ms

    # -- caller words and turns --------------------------------------------------------------
    async def _results_loop(self) -> None:
        try:
            async for transcript in self._stt.results():
                self._on_transcript(transcript)
        except Exception as error:  # the recogniser is gone: the call cannot go on
            self._report(error, stage="stt", recoverable=False)
            await self.end("error")

    def _on_transcript(self, transcript: Transcript) -> None:
        self._emit(
            TranscriptionReceived,
            text=transcript.text,
            is_final=transcript.is_final,
            confidence=transcript.confidence,
            language=transcript.language,
            start_ms=transcript.start_ms,
            end_ms=transcript.end_ms,
        )
        if transcript.is_final:
            self._awaiting_finals = max(0, self._awaiting_finals - 1)
            self._final_at = self._clock.now()
            if transcript.text.strip():
                self._words.append(transcript.text.strip())
            self._maybe_end_turn()

    def _maybe_end_turn(self) -> None:
        """End the caller's turn once they said something, the final transcript is in, and
        their silence has lasted what the turn detector asks for."""
        if self._ending or self._segmenter.speaking or self._awaiting_finals or not self._words:
            return
        text = " ".join(self._words)
        needed_ms = self._turn_detector.silence_needed_s(text) * 1000
        if self._segmenter.silence_ms + 1e-6 < needed_ms:
            return
        self._words = []
        timeline = TurnTimeline(
            speech_end=self._speech_end, final_transcript=self._final_at, end_of_turn=self._clock.now()
        )
        self.turn += 1
        self.history.append(Message(role="user", content=text, agent=self.settings.agent, at=self._at()))
        self._start_reply(self._respond(timeline))

    # -- replies -----------------------------------------------------------------------------
    def _start_reply(self, reply: Coroutine[Any, Any, None]) -> None:
        if self._group is None:
            reply.close()
            return
        previous = self._reply_task
        if previous is not None and not previous.done():
            previous.cancel()
        self._reply_task = self._group.create_task(reply, name="reply")

    async def _respond(self, timeline: TurnTimeline) -> None:
        system = Message(role="system", content=self.settings.system_prompt)
        request = ModelRequest(messages=[system, *self.history])
        await self._speak(Reply(timeline), model_clauses(self._model, request, timeline, self._clock))

    async def _say(self, text: str, *, activity: bool = True) -> None:
        await self._speak(Reply(), text_clauses(text), activity=activity)

    # -- silence and duration ----------------------------------------------------------------
    def _touch(self) -> None:
        self._last_activity = self._clock.now()

    def _busy(self) -> bool:
        """Someone is talking (the reprompt aside: it does not reset the silence)."""
        reply = self._reply_task
        replying = reply is not None and not reply.done() and reply is not self._reprompt_task
        return self._segmenter.speaking or replying

    async def _watchdog(self) -> None:
        """Reprompt after ``idle_reprompt_s`` of silence, hang up after ``idle_hangup_s``, and
        end the call at ``max_duration_s``. Time spent talking (either side) is not silence."""
        s = self.settings
        end_at = self._started_at + s.max_duration_s
        while not self._ending:
            now = self._clock.now()
            if now >= end_at:
                await self.end("max_duration")
                return
            if self._busy():
                self._touch()
            idle = now - self._last_activity
            if idle >= s.idle_hangup_s:
                await self.end("idle")
                return
            if idle >= s.idle_reprompt_s and not self._reprompted:
                self._reprompted = True
                self._start_reply(self._say(s.idle_reprompt, activity=False))
                self._reprompt_task = self._reply_task
            limit = s.idle_hangup_s if self._reprompted else s.idle_reprompt_s
            await self._clock.sleep(max(0.02, min(self._last_activity + limit, end_at) - now))

    async def _speak(
        self, reply: Reply, clauses: AsyncIterator[str], *, apologize: bool = True, activity: bool = True
    ) -> None:
        """Speak a reply; when it ends, the silence clock restarts (unless ``activity`` is off:
        the idle reprompt does not count as the conversation going on)."""
        self._reply = reply
        try:
            await self._speaker.speak(clauses, reply, self._on_first_frame)
        except Exception as error:
            self._report(error, stage="reply", recoverable=True)
            if apologize and self.settings.apology:
                await self._speak(Reply(), text_clauses(self.settings.apology), apologize=False)
            return
        finally:
            if activity:
                self._touch()
        self._remember(reply, reply.text, interrupted=False)

    def _on_first_frame(self, at: float) -> None:
        self._emit(PlaybackStarted, agent=self.settings.agent, turn=self.turn)

    def _remember(self, reply: Reply, text: str, *, interrupted: bool) -> None:
        agent = self.settings.agent
        message = Message(role="assistant", content=text, agent=agent, interrupted=interrupted, at=self._at())
        self.history.append(message)
        latency = reply.timeline.latency() if reply.timeline.speech_end is not None else None
        if latency is not None and self._metrics is not None and not interrupted:
            self._metrics.observe(latency)
        self._emit(
            AgentResponseGenerated,
            agent=agent,
            text=text,
            turn=self.turn,
            latency=latency,
            interrupted=interrupted,
        )

    # -- helpers -----------------------------------------------------------------------------
    def _report(self, error: Exception, *, stage: str, recoverable: bool) -> None:
        self._emit(
            ErrorOccurred,
            kind=type(error).__name__,
            message=str(error),
            stage=stage,
            recoverable=recoverable,
        )

    def _emit(self, event_type: type[E], **fields: Any) -> E:
        return self._emitter.emit(event_type, **fields)

    def _at(self) -> float:
        return round(self._clock.now() - self._started_at, 3)
