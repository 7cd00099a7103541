"""The session engine: one call driven end to end, as one structured task group.

Three tasks share the call: the inbound loop (caller frames -> VAD -> :class:`SpeechSegmenter`
-> STT, barge-in), the STT results loop (transcripts -> events, the caller's words) and at most
one reply (greeting, model answer, apology or goodbye, spoken by the
:class:`~artagent.session.responder.Speaker`). The turn ends when the caller has been silent
for what the turn detector asks, given their words, and the final transcript is in.

Barge-in: caller speech while a reply runs stops the playout, flushes the channel at once
(within the frame that decided the speech start) and cancels the reply task, which closes the
model and TTS streams. The history keeps only what the caller heard (see
:meth:`~artagent.session.responder.Reply.heard_text`); a reply not yet heard is dropped. With
fillers configured the reply is held instead, until the caller's words say whether to stop it
(:mod:`artagent.session.interruptions`).

The call's :class:`~artagent.session.state.SessionState` (history, turn, active agent, collected
fields) is the session's memory; ``on_state_changed`` is called after every turn so the
:class:`~artagent.session.persistence.StateKeeper` can save it. A session given a state that
already has a history resumes that call: it says ``resume_greeting`` instead of the greeting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import msgspec

from artagent.events import (
    AgentResponseGenerated,
    CallEnded,
    CallStarted,
    ErrorOccurred,
    EscalationRequested,
    Event,
    PlaybackInterrupted,
    PlaybackStarted,
    SpeechStarted,
    SpeechStopped,
    TranscriptionReceived,
)
from artagent.observability.calltrace import NO_TRACE, CallTrace
from artagent.observability.logs import TRANSCRIPTS
from artagent.providers import (
    MediaChannel,
    ModelProvider,
    STTStream,
    Transcript,
    TTSProvider,
    TurnDetector,
    VADStream,
)
from artagent.session.conversation import Conversation, SingleAgent
from artagent.session.interruptions import FillerWords, Interruption, Outcome
from artagent.session.latency import SessionMetrics, TurnTimeline
from artagent.session.playout import Clock, Playout
from artagent.session.recovery import FailureBudget, close_quietly
from artagent.session.responder import Reply, Speaker, model_clauses, text_clauses
from artagent.session.state import Message, SessionState
from artagent.session.tools import EventEmitter, ToolRound, ToolRunner
from artagent.session.turns import SegmenterSettings, SpeechSegmenter

__all__ = ["EventEmitter", "Session", "SessionSettings"]

E = TypeVar("E", bound=Event)
_transcripts = logging.getLogger(TRANSCRIPTS)


class SessionSettings(msgspec.Struct, frozen=True, kw_only=True):
    greeting: str = "Hello, how can I help you today?"
    """Spoken when the call starts; empty: say nothing."""
    resume_greeting: str = "Sorry about that. Where were we?"
    """Spoken instead when the call is resumed from a saved state (its first worker went away)."""
    system_prompt: str = "You are a helpful voice assistant. Answer briefly."
    apology: str = "Sorry, I had a problem there. Could you say that again?"
    """Spoken when a provider fails during a reply; the call goes on."""
    farewell: str = "Thank you for calling. Goodbye."
    """Spoken by :meth:`Session.end` before hanging up; empty: hang up at once."""
    agent: str = "assistant"
    channel: str = ""
    """The channel adapter's name, for ``call_started``."""
    worker: str | None = None
    """The worker running the call, for ``call_started``."""
    caller: str | None = None
    callee: str | None = None
    """The phone numbers (or ids) of who called and who was called, when the channel knows them."""
    lead_ms: float = 60.0
    """Agent audio buffered ahead on the far side (what a barge-in flush throws away)."""
    barge_in: bool = True
    """Caller speech interrupts the agent; false: the agent always finishes what it says."""
    barge_in_min_speech_ms: float = 60.0
    """Caller speech that counts as started (and interrupts the agent)."""
    false_interruption_s: float = 1.5
    """Caller speech over the agent that yields no words this long after it started (and has
    stopped) is a false interruption: counted, and with fillers the agent goes on."""
    fillers: tuple[str, ...] = ()
    """Words that do not interrupt; non-empty: caller speech holds the agent's audio until its
    words are known, and only a word not in this list stops it."""
    speech_threshold: float = 0.5
    speech_release: float = 0.35
    speech_stop_ms: float = 240.0
    """VAD probability that starts speech, that ends it, and the silence that ends it."""
    tool_timeout_s: float = 10.0
    max_tool_rounds: int = 4
    tool_filler: str = "One moment, please."
    """Said when tools take longer than ``tool_filler_s`` (empty: nothing)."""
    tool_filler_s: float = 2.0
    transfer_failed: str = "Sorry, I could not transfer you right now. Let's carry on."
    """Said when the channel could not transfer the call to a human; the agent carries on."""
    idle_reprompt_s: float = 8.0
    """Silence on both sides this long (after the agent finished speaking) -> the reprompt."""
    idle_reprompt: str = "Are you still there?"
    idle_hangup_s: float = 20.0
    """Silence this long (the reprompt does not reset it) -> the farewell and hang-up."""
    max_duration_s: float = 3600.0
    """The call is ended politely (reason ``max_duration``) once it has lasted this long."""
    provider_failure_limit: int = 3
    """This many failures of the recogniser (or of the VAD) within ``provider_failure_window_s``
    end the call politely (reason ``error``); fewer are recovered from with a new stream."""
    provider_failure_window_s: float = 60.0


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
        model: ModelProvider | None = None,
        emitter: EventEmitter,
        clock: Clock,
        settings: SessionSettings | None = None,
        metrics: SessionMetrics | None = None,
        state: SessionState | None = None,
        tools: ToolRunner | None = None,
        conversation: Conversation | None = None,
        on_state_changed: Callable[[], None] | None = None,
        open_stt: Callable[[], Awaitable[STTStream]] | None = None,
        open_vad: Callable[[], VADStream] | None = None,
        trace: CallTrace = NO_TRACE,
    ) -> None:
        """``conversation`` drives the agent side (the agents layer's orchestrator); without
        one, ``model`` answers with ``settings.system_prompt`` and ``tools``. ``open_stt`` and
        ``open_vad`` give a new recogniser or VAD for the call when the one in use fails; without
        them such a failure ends the call politely. ``trace``: the call's trace, told of each
        turn and stage (whoever runs the call makes it active)."""
        s = self.settings = settings or SessionSettings()
        self._channel, self._vad, self._stt = channel, vad, stt
        self._turn_detector = turn_detector
        self._open_stt, self._open_vad = open_stt, open_vad
        limit, window_s = s.provider_failure_limit, s.provider_failure_window_s
        self._stt_failures = FailureBudget(clock, limit=limit, window_s=window_s)
        self._vad_failures = FailureBudget(clock, limit=limit, window_s=window_s)
        self._stt_error: Exception | None = None
        """Set while the recogniser is broken (until the results loop has replaced it)."""
        self._skip_segment = False
        """The recogniser was replaced while the caller spoke: the rest of that speech is not
        sent (the caller is asked to say it again), the new one listens from the next."""
        self._vad_down = False
        if conversation is None:
            if model is None:
                raise TypeError("Session needs a model or a conversation")
            conversation = SingleAgent(
                model,
                system_prompt=s.system_prompt,
                agent=s.agent,
                greeting=s.greeting,
                resume_greeting=s.resume_greeting,
                tools=tools,
            )
        self._conversation = conversation
        self._emitter, self._clock, self._metrics, self._trace = emitter, clock, metrics, trace
        self._segmenter = SpeechSegmenter(
            SegmenterSettings(
                threshold=s.speech_threshold,
                release=s.speech_release,
                start_ms=s.barge_in_min_speech_ms,
                stop_ms=s.speech_stop_ms,
            )
        )
        self._playout = Playout.for_channel(channel, clock, lead_ms=s.lead_ms)
        self._speaker = Speaker(
            tts, self._playout, clock, voice=lambda: conversation.voice, agent=lambda: conversation.agent
        )
        self.state = state or SessionState(call_id=emitter.call_id, channel=s.channel)
        """What the call knows: history, turn, active agent, collected fields (saved per turn)."""
        self.resumed = bool(self.state.history)
        runner = conversation.tools
        self._tools = (
            ToolRound(
                runner,
                self,
                clock,
                agent=lambda: conversation.agent,
                timeout_s=s.tool_timeout_s,
                elapsed=self._at,
                trace=trace,
            )
            if runner is not None
            else None
        )
        self._on_state_changed = on_state_changed
        self._fillers = FillerWords(s.fillers)
        self._interruption: Interruption | None = None
        self.interruptions: dict[Outcome, int] = {"barge_in": 0, "false": 0, "filler": 0}
        self._end_after: str | None = None
        self._escalation: tuple[str, str | None] | None = None
        self._outcome = ""
        self._running = asyncio.Event()
        """Set once the call's tasks run (and its opening, if any, has started)."""
        self._group: asyncio.TaskGroup | None = None
        self._reply: Reply | None = None
        self._reply_task: asyncio.Task[None] | None = None
        self._words: list[str] = []
        self._silence_needed: tuple[str, float] | None = None
        """The turn detector's answer (ms) for the caller's words so far."""
        self._awaiting_finals = 0
        self._speech_end: float | None = None
        self._final_at: float | None = None
        self._ending = False
        self._end_reason: str | None = None
        self._started_at = 0.0
        self._last_activity = 0.0
        self._reprompted = False
        self._reprompt_task: asyncio.Task[None] | None = None

    # -- what the call knows -----------------------------------------------------------------
    @property
    def history(self) -> list[Message]:
        """The conversation so far (user, assistant and tool messages; the system prompt is
        added to each model request)."""
        return self.state.history

    @property
    def turn(self) -> int:
        return self.state.turn

    @property
    def call_id(self) -> str:
        return self.state.call_id

    @property
    def agent(self) -> str:
        return self._conversation.agent

    def emit(self, event_type: type[E], **fields: Any) -> E:
        """Publish one of this call's events (for tools and agents: :class:`CallControl`)."""
        return self._emitter.emit(event_type, **fields)

    def end_after_reply(self, reason: str) -> None:
        """Hang up with ``reason`` once the current reply has been spoken: an agent's goodbye."""
        self._end_after = reason

    def set_outcome(self, outcome: str) -> None:
        """The call's business result so far (``call_ended.outcome``); the latest wins."""
        self._outcome = outcome

    def escalate(self, reason: str, target: str | None = None) -> None:
        """A human should take over: ``escalation_requested`` now; once the current reply (the
        agent's hand-off line) has been spoken, the channel transfers the call (see
        :meth:`_transfer`)."""
        self._emit(EscalationRequested, reason=reason, target=target, agent=self.agent)
        self._escalation = (reason, target)

    # -- the call ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Drive the call until the caller goes away or :meth:`end` hangs up."""
        self._started_at = self._last_activity = self._clock.now()
        s = self.settings
        self._conversation.bind(self)  # the scenario and its start agent are known from here
        self._emit(
            CallStarted,
            channel=s.channel,
            worker=s.worker,
            resumed=self.resumed,
            caller=s.caller,
            callee=s.callee,
            scenario=self.state.scenario,
        )
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                results = group.create_task(self._results_loop(), name="stt-results")
                watchdog = group.create_task(self._watchdog(), name="idle-watchdog")
                opening = self._conversation.opening(resumed=self.resumed)
                if opening:
                    self._start_reply(self._say(opening, "resume_greeting" if self.resumed else "greeting"))
                self._running.set()
                await self._inbound_loop()
                watchdog.cancel()
                await self._finish(results)
        except BaseException:
            self._end_reason = self._end_reason or "error"
            raise
        finally:
            self._group = None
            reason = self._end_reason or "caller_hangup"
            self._emit(
                CallEnded,
                reason=reason,
                outcome=self._outcome or (reason if reason in ("transferred", "escalated") else ""),
                duration_ms=round((self._clock.now() - self._started_at) * 1000, 1),
                turns=self.turn,
                barge_ins=self.interruptions["barge_in"],
                false_interruptions=self.interruptions["false"],
            )
            self._state_changed()

    async def end(self, reason: str, *, farewell: bool = True) -> None:
        """End the call politely: stop any reply, say the farewell (unless ``farewell`` is
        False: nobody would hear it), hang up with ``reason``."""
        if self._ending:
            return
        self._ending, self._end_reason = True, reason
        await self._cancel_reply(wait=True)
        if farewell and self.settings.farewell:
            await self._say(self.settings.farewell, "farewell")
        await self._channel.hangup(reason)

    async def _hang_up(self, reason: str) -> None:
        """End the call without a farewell (the agent said its own)."""
        if not self._ending:
            self._ending, self._end_reason = True, reason
            await self._channel.hangup(reason)

    async def _finish(self, results: asyncio.Task[None]) -> None:
        await self._cancel_reply(wait=True)
        await close_quietly(self._stt)
        results.cancel()

    # -- caller audio ------------------------------------------------------------------------
    async def _inbound_loop(self) -> None:
        async for frame in self._channel.frames():
            try:
                probability = 0.0 if self._vad_down else await self._vad.speech_probability(frame)
            except Exception as error:
                probability = self._vad_failed(error)
            change = self._segmenter.update(probability)
            if change == "speech_started":
                await self._on_speech_started()
            if self._stt_error is None and not self._skip_segment:
                try:
                    await self._stt.push(frame)
                except Exception as error:
                    await self._stt_failed(error)
            if change == "speech_stopped":
                await self._on_speech_stopped()
            self._maybe_end_turn()

    async def _on_speech_started(self) -> None:
        self._touch()
        self._reprompted = False
        self._emit(SpeechStarted, offset_ms=self._segmenter.speech_start_ms)
        reply = self._reply_task
        if reply is None or reply.done() or self._ending or not self.settings.barge_in:
            return
        held = bool(self._fillers)
        self._interruption = Interruption(started_at=self._clock.now(), held=held)
        if held:
            self._playout.hold()
        else:
            await self._barge_in()
        if self._group is not None:
            self._group.create_task(self._interruption_window(self._interruption), name="interruption")

    async def _on_speech_stopped(self) -> None:
        self._touch()
        seg = self._segmenter
        self._speech_end = self._clock.now() - (seg.position_ms - seg.speech_stop_ms) / 1000
        duration = seg.speech_stop_ms - seg.speech_start_ms
        self._emit(SpeechStopped, offset_ms=seg.speech_stop_ms, duration_ms=duration)
        if self._stt_error is not None or self._skip_segment:
            self._skip_segment = False
            return  # the recogniser was replaced: these words are lost (the caller is asked again)
        self._awaiting_finals += 1
        try:
            await self._stt.end_of_speech()
        except Exception as error:
            await self._stt_failed(error)

    async def _barge_in(self) -> None:
        reply = self._reply
        heard_ms = await self._cancel_reply(wait=False)
        if reply is None or reply.timeline.first_frame_sent is None:
            return  # nothing of it was heard: the reply is simply dropped
        reply.trace.barge_in(heard_ms)
        with reply.trace.active():  # its events belong to the reply they cut
            self._emit(PlaybackInterrupted, agent=self.agent, turn=self.turn, heard_ms=heard_ms)
            self._remember(reply, reply.heard_segments(heard_ms), interrupted=True)

    async def _cancel_reply(self, *, wait: bool) -> float:
        """Stop the running reply (flushing what the far side buffered); returns the ms heard."""
        task, heard_ms = self._reply_task, 0.0
        if task is None or task.done() or task is asyncio.current_task():
            return heard_ms  # a reply ending the call (an agent's goodbye) is left to finish
        flush = self._playout.playing
        if flush:
            heard_ms = self._playout.stop()
        task.cancel()  # before the flush is awaited: the reply must not go on meanwhile
        if flush:
            await self._channel.flush()
        if wait:
            await asyncio.wait({task})
        return heard_ms

    # -- interruptions -----------------------------------------------------------------------
    async def _interruption_window(self, interruption: Interruption) -> None:
        """No words ``false_interruption_s`` after the caller started: once they are silent it
        is a false interruption; a held agent still waiting while they talk on is stopped."""
        await self._clock.sleep(self.settings.false_interruption_s)
        while not interruption.decided and self._interruption is interruption:
            if not self._segmenter.speaking:
                await self._decide(interruption, "false")
                return
            if interruption.held:
                await self._decide(interruption, "barge_in")
                return
            await self._clock.sleep(0.1)  # the final transcript will tell

    async def _decide(self, interruption: Interruption, outcome: Outcome) -> None:
        interruption.outcome = outcome
        if self._interruption is interruption:
            self._interruption = None
        self.interruptions[outcome] += 1
        if self._metrics is not None:
            self._metrics.interruption(outcome)
        if not interruption.held:
            return  # the agent was stopped at once; this only counts what it was
        if outcome == "barge_in":
            await self._barge_in()
        else:
            self._playout.resume()

    # -- caller words and turns --------------------------------------------------------------
    async def _results_loop(self) -> None:
        """The recogniser's transcripts; one that fails is replaced and listened to in turn."""
        while True:
            stream = self._stt
            try:
                async for transcript in stream.results():
                    await self._on_transcript(transcript)
            except Exception as failure:
                self._stt_error = self._stt_error or failure
            error = self._stt_error
            if error is None or not await self._reopen_stt(stream, error):
                return  # closed at the end of the call, or the call is ending

    async def _stt_failed(self, error: Exception) -> None:
        """Audio could not reach the recogniser: close it, so that the results loop reports it
        and listens through a new one."""
        if self._stt_error is None:
            self._stt_error = error
            await close_quietly(self._stt)

    async def _reopen_stt(self, broken: STTStream, error: Exception) -> bool:
        """Report the recogniser's failure and replace it; the caller is asked to say again
        what was lost. ``False``: it cannot be replaced, or fails too often: the call ends
        politely (reason ``error``)."""
        await close_quietly(broken)
        if self._ending:
            return False
        recover = self._open_stt is not None and self._stt_failures.spend()
        self._report(error, stage="stt", recoverable=recover)
        if recover and self._open_stt is not None:
            try:
                self._stt = await self._open_stt()
            except Exception as failure:
                self._report(failure, stage="stt", recoverable=False)
                recover = False
        if not recover:
            await self.end("error")
            return False
        self._stt_error, self._words, self._awaiting_finals = None, [], 0
        self._skip_segment = self._segmenter.speaking
        if self.settings.apology:
            previous = self._reply_task
            self._start_reply(self._say_after(previous, self.settings.apology), cancel_previous=False)
        return True

    def _vad_failed(self, error: Exception) -> float:
        """The VAD raised on a frame: report it and go on with a new one, the frame counting as
        silence. Nothing the caller said is lost (the recogniser gets every frame), so no
        apology; a VAD that cannot be replaced, or fails too often, ends the call politely."""
        recover = self._open_vad is not None and self._vad_failures.spend()
        self._report(error, stage="vad", recoverable=recover)
        if recover and self._open_vad is not None:
            try:
                self._vad = self._open_vad()
                return 0.0
            except Exception as failure:
                self._report(failure, stage="vad", recoverable=False)
        self._vad_down = True
        if self._group is not None and not self._ending:
            self._group.create_task(self.end("error"), name="end")
        return 0.0

    async def _on_transcript(self, transcript: Transcript) -> None:
        self._emit(
            TranscriptionReceived,
            text=transcript.text,
            is_final=transcript.is_final,
            confidence=transcript.confidence,
            language=transcript.language,
            start_ms=transcript.start_ms,
            end_ms=transcript.end_ms,
        )
        interruption, backchannel = self._interruption, False
        if interruption is not None:
            outcome = interruption.classify(
                transcript.text, is_final=transcript.is_final, fillers=self._fillers
            )
            if outcome is not None:
                await self._decide(interruption, outcome)
                backchannel = outcome == "filler"
        if transcript.is_final:
            self._awaiting_finals = max(0, self._awaiting_finals - 1)
            self._final_at = self._clock.now()
            if transcript.text.strip() and not backchannel:
                self._words.append(transcript.text.strip())
            self._maybe_end_turn()

    def _maybe_end_turn(self) -> None:
        """End the caller's turn once they said something, the final transcript is in, and
        their silence has lasted what the turn detector asks for."""
        if self._ending or self._segmenter.speaking or self._awaiting_finals or not self._words:
            return
        text = " ".join(self._words)
        if self._silence_needed is None or self._silence_needed[0] != text:
            # Asked once per transcript, not on every silent frame of every call.
            self._silence_needed = (text, self._turn_detector.silence_needed_s(text) * 1000)
        if self._segmenter.silence_ms + 1e-6 < self._silence_needed[1]:
            return
        self._words = []
        timeline = TurnTimeline(
            speech_end=self._speech_end, final_transcript=self._final_at, end_of_turn=self._clock.now()
        )
        self._take_turn(text, timeline)

    async def submit_text(self, text: str, *, source: str = "text") -> None:
        """The caller typed (or keyed in) ``text``: a whole turn at once, as if said and
        recognised (``transcription_received`` with ``source``: ``text`` or ``dtmf``). Like speech,
        it interrupts an agent that is speaking."""
        text = text.strip()
        if not text or self._ending or self._group is None:
            return
        self._touch()
        self._reprompted = False
        self._emit(TranscriptionReceived, text=text, is_final=True, source=source)
        reply = self._reply_task
        if reply is not None and not reply.done() and self.settings.barge_in:
            await self._barge_in()
        now = self._clock.now()
        self._take_turn(text, TurnTimeline(speech_end=now, final_transcript=now, end_of_turn=now))

    async def until_quiet(self) -> None:
        """Return once the call runs and no reply is running (the agent has said all it had to
        say for now)."""
        await self._running.wait()
        while (task := self._reply_task) is not None and not task.done():
            await asyncio.wait({task})
            await asyncio.sleep(0)  # a reply may start the next (a transfer's apology)

    def _take_turn(self, text: str, timeline: TurnTimeline) -> None:
        self.state.turn += 1
        _transcripts.debug("caller: %s", text)
        said = Message(role="user", content=text, agent=self.agent, at=self._at())
        speaking = self._reply_task
        if self.settings.barge_in or speaking is None or speaking.done() or speaking is self._reprompt_task:
            self.history.append(said)
            self._state_changed()
            self._start_reply(self._respond(timeline))
        else:  # the agent cannot be interrupted: it finishes, then answers
            self._start_reply(self._respond(timeline, after=(speaking, said)), cancel_previous=False)

    # -- replies -----------------------------------------------------------------------------
    def _start_reply(self, reply: Coroutine[Any, Any, None], *, cancel_previous: bool = True) -> None:
        if self._group is None:
            reply.close()
            return
        previous = self._reply_task
        if cancel_previous and previous is not None and not previous.done():
            previous.cancel()
        self._reply_task = self._group.create_task(reply, name="reply")

    async def _respond(
        self, timeline: TurnTimeline, *, after: tuple[asyncio.Task[None], Message] | None = None
    ) -> None:
        """Answer the caller's turn; ``after``: first let that reply finish, then add what the
        caller said meanwhile to the history (so it follows the reply they talked over)."""
        if after is not None:
            await asyncio.wait({after[0]})
            self.history.append(after[1])
            self._state_changed()
        s = self.settings
        reply = Reply(timeline, trace=self._trace.turn(self.turn, timeline, self.agent))
        clauses = model_clauses(
            self._conversation,
            self.history,
            reply,
            self._clock,
            tools=self._tools,
            max_tool_rounds=s.max_tool_rounds,
            filler=s.tool_filler,
            filler_after_s=s.tool_filler_s,
        )
        try:
            await self._speak(reply, clauses)
        finally:
            self._after_reply()

    def _after_reply(self) -> None:
        """What the reply's tools asked for, once it has been spoken: a hang-up or a transfer."""
        if self._group is None:
            return
        if self._escalation is not None:
            reason, target = self._escalation
            self._escalation = None
            self._group.create_task(self._transfer(reason, target), name="transfer")
        elif self._end_after is not None:
            self._group.create_task(self._hang_up(self._end_after), name="hang-up")

    async def _transfer(self, reason: str, target: str | None) -> None:
        """Hand the call to a human through the channel (ACS transfers it); a channel that
        cannot transfer ends the call (reason ``escalated``), a failed transfer is apologised
        for and the agent carries on."""
        transfer = getattr(self._channel, "transfer", None)
        if transfer is None:
            await self._hang_up("escalated")
            return
        try:
            done = bool(await transfer(target, reason))
        except Exception as error:
            self._report(error, stage="transfer", recoverable=True)
            done = False
        if done:
            self._ending, self._end_reason = True, "transferred"
        elif self.settings.transfer_failed:
            self._start_reply(self._say(self.settings.transfer_failed, "transfer_failed"))

    async def _say(self, text: str, what: str, *, activity: bool = True, apologize: bool = True) -> None:
        """Say ``text`` on the agent's own initiative (``what`` it is, for the trace)."""
        reply = Reply(trace=self._trace.say(what, self.agent))
        await self._speak(reply, text_clauses(text), activity=activity, apologize=apologize)

    async def _say_after(self, previous: asyncio.Task[None] | None, text: str) -> None:
        """Say ``text`` once the reply under way (if any) is over and the caller is silent;
        stopping this stops that reply too."""
        if previous is not None and not previous.done():
            try:
                await asyncio.wait({previous})
            except asyncio.CancelledError:
                previous.cancel()
                raise
        while self._segmenter.speaking:
            await self._clock.sleep(0.02)
        await self._say(text, "apology", apologize=False)

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
                self._start_reply(self._say(s.idle_reprompt, "reprompt", activity=False))
                self._reprompt_task = self._reply_task
            limit = s.idle_hangup_s if self._reprompted else s.idle_reprompt_s
            await self._clock.sleep(max(0.02, min(self._last_activity + limit, end_at) - now))

    async def _speak(
        self, reply: Reply, clauses: AsyncIterator[str], *, apologize: bool = True, activity: bool = True
    ) -> None:
        """Speak a reply in its span (a traced call), ended when the reply is over or cut."""
        try:
            with reply.trace.active():
                await self._speak_reply(reply, clauses, apologize=apologize, activity=activity)
        except BaseException as error:  # cancelled: a barge-in, or the call ending
            reply.trace.end(reply.timeline, error=error)
            raise
        reply.trace.end(reply.timeline)

    async def _speak_reply(
        self, reply: Reply, clauses: AsyncIterator[str], *, apologize: bool, activity: bool
    ) -> None:
        """Speak a reply; when it ends, the silence clock restarts (unless ``activity`` is off:
        the idle reprompt does not count as the conversation going on)."""
        self._reply = reply
        try:
            await self._speaker.speak(clauses, reply, self._on_first_frame)
        except Exception as error:
            self._report(error, stage="reply", recoverable=True)
            self.history.extend(reply.tool_messages)  # the tools did run
            reply.tool_messages = []
            if apologize and self.settings.apology:
                await self._say(self.settings.apology, "apology", apologize=False)
            return
        finally:
            if self._reply is reply:
                self._reply = None  # its clauses need not live until the next reply
            if activity:
                self._touch()
        self._remember(reply, reply.segments(), interrupted=False)

    def _on_first_frame(self, at: float) -> None:
        self._emit(PlaybackStarted, agent=self.agent, turn=self.turn)

    def _remember(self, reply: Reply, segments: list[tuple[str, str]], *, interrupted: bool) -> None:
        """Add the reply to the history (its tool calls first, then what each agent said) and
        report it, one ``agent_response_generated`` per agent; the turn is over."""
        self.history.extend(reply.tool_messages)
        reply.tool_messages = []
        latency = reply.timeline.latency() if reply.timeline.speech_end is not None else None
        if latency is not None and self._metrics is not None and not interrupted:
            self._metrics.observe(latency)
        segments = segments or [(self.agent, "")]
        last = len(segments) - 1
        for index, (agent, text) in enumerate(segments):
            cut, agent = interrupted and index == last, agent or self.agent
            self.history.append(
                Message(role="assistant", content=text, agent=agent, interrupted=cut, at=self._at())
            )
            _transcripts.debug("%s%s: %s", agent, " (cut off)" if cut else "", text)
            self._emit(
                AgentResponseGenerated,
                agent=agent,
                text=text,
                turn=self.turn,
                latency=latency if index == 0 else None,
                interrupted=cut,
                **(_usage_fields(reply) if index == last else {}),
            )
        self._state_changed()

    def _state_changed(self) -> None:
        self.state.seq = self._emitter.seq
        if self._on_state_changed is not None:
            self._on_state_changed()

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


def _usage_fields(reply: Reply) -> dict[str, Any]:
    """The model and token counts of ``agent_response_generated``, when the router gave them."""
    usage = reply.usage
    if usage is None:
        return {}
    return {
        "model": usage.model or None,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
    }
