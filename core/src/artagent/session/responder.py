"""Speaking a reply: model text -> clauses -> speech text -> TTS -> 20 ms frames -> paced playout.

One :class:`Reply` per agent utterance records what was planned (each clause with the audio it
produced) so a barge-in can keep, in the history, only what the caller heard. The
:class:`Speaker` runs the pipeline as two tasks (synthesis and playout), so cancelling the task that awaits
:meth:`Speaker.speak` really cancels the model request and the synthesis (their iterators are
closed, not left suspended) before it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from artagent.audio import FrameSplitter, Resampler
from artagent.observability.calltrace import NO_TURN, TurnTrace
from artagent.providers import (
    ModelUsage,
    ToolCallRequest,
    TTSProvider,
    VoiceSpec,
)
from artagent.session.conversation import Conversation
from artagent.session.latency import TurnTimeline
from artagent.session.playout import Clock, FrameQueue, Playout
from artagent.session.state import Message
from artagent.session.tools import ToolRound
from artagent.speech_text import ClauseChunker, normalize_for_speech

__all__ = ["Clause", "Reply", "Speaker", "ToolLoopError", "model_clauses", "text_clauses"]

SAMPLE_RATE = 16_000
FRAME_S = 0.02


async def aclose(iterator: AsyncIterator[Any]) -> None:
    """Close an async generator (in a ``finally``), so a cancelled consumer cancels the
    producer too; a plain iterator without ``aclose`` is left alone."""
    close: Callable[[], Any] | None = getattr(iterator, "aclose", None)
    if close is not None:
        await close()


@dataclass
class Clause:
    """One spoken piece: its text as the model wrote it, and the frames it became."""

    text: str
    agent: str = ""
    """The agent that said it (a reply spans a handoff: the old agent, then the new one)."""
    frames: int = 0
    complete: bool = False
    """Its synthesis ended, so ``frames`` is its whole duration."""


DEFAULT_MS_PER_CHAR = 1000 / 15
"""Speech runs at about 15 characters a second (150 words a minute)."""


@dataclass
class Reply:
    """What one agent utterance planned to say, and when its stages happened."""

    timeline: TurnTimeline = field(default_factory=TurnTimeline)
    clauses: list[Clause] = field(default_factory=list)
    tool_messages: list[Message] = field(default_factory=list)
    """The tool calls made during the reply and their results, for the history."""
    usage: ModelUsage | None = None
    """Tokens of every model request of the reply, summed; the model named is the last one."""
    trace: TurnTrace = NO_TURN
    """The reply's span (a traced call), under which its stages are recorded."""

    def add_usage(self, usage: ModelUsage) -> None:
        if self.usage is not None:
            usage = ModelUsage(
                model=usage.model or self.usage.model,
                prompt_tokens=self.usage.prompt_tokens + usage.prompt_tokens,
                completion_tokens=self.usage.completion_tokens + usage.completion_tokens,
            )
        self.usage = usage

    @property
    def text(self) -> str:
        return " ".join(clause.text for clause in self.clauses)

    def heard_text(self, heard_ms: float) -> str:
        """The text the caller heard (see :meth:`heard_segments`), as one string."""
        return " ".join(text for _, text in self.heard_segments(heard_ms))

    def segments(self) -> list[tuple[str, str]]:
        """(agent, text) for each run of clauses one agent said, in order."""
        return _group((clause.agent, clause.text) for clause in self.clauses)

    def heard_segments(self, heard_ms: float) -> list[tuple[str, str]]:
        """(agent, text) the caller heard: every clause played in full, then the share of the
        current clause's words proportional to the share of its audio played (TTS speaks at
        a roughly even rate, so this is close enough for the model's context). A clause still
        being synthesized has no known length yet: it is estimated from the speaking rate of
        the finished clauses (or :data:`DEFAULT_MS_PER_CHAR`)."""
        kept: list[tuple[str, str]] = []
        left_ms = heard_ms
        ms_per_char = self._ms_per_char()
        for clause in self.clauses:
            clause_ms = clause.frames * FRAME_S * 1000
            if not clause.complete:
                clause_ms = max(clause_ms, len(clause.text) * ms_per_char)
            if clause_ms <= 0 or left_ms <= 0:
                break
            words = clause.text.split()
            cut = len(words) if left_ms >= clause_ms else int(len(words) * left_ms / clause_ms)
            if cut:
                kept.append((clause.agent, " ".join(words[:cut])))
            left_ms -= clause_ms
        return _group(kept)

    def _ms_per_char(self) -> float:
        done = [clause for clause in self.clauses if clause.complete and clause.text]
        chars = sum(len(clause.text) for clause in done)
        frames = sum(clause.frames for clause in done)
        return frames * FRAME_S * 1000 / chars if chars and frames else DEFAULT_MS_PER_CHAR


async def text_clauses(text: str) -> AsyncIterator[str]:
    """A fixed text (greeting, apology, goodbye) as clauses, the way model text is cut."""
    chunker = ClauseChunker()
    for piece in [*chunker.feed(text), *chunker.flush()]:
        yield piece


def _group(pieces: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    grouped: list[tuple[str, str]] = []
    for agent, text in pieces:
        if grouped and grouped[-1][0] == agent:
            grouped[-1] = (agent, f"{grouped[-1][1]} {text}")
        else:
            grouped.append((agent, text))
    return grouped


class ToolLoopError(RuntimeError):
    """The model kept asking for tools without ever answering."""


async def model_clauses(
    conversation: Conversation,
    history: Sequence[Message],
    reply: Reply,
    clock: Clock,
    *,
    tools: ToolRound | None = None,
    max_tool_rounds: int = 4,
    filler: str = "",
    filler_after_s: float = 2.0,
) -> AsyncIterator[str]:
    """The model's reply as speakable clauses, the first as soon as it is complete.

    When a response ends with tool calls, the text so far is released (it is spoken while the
    tools run; ``filler`` is said too if they take longer than ``filler_after_s``), the calls
    are run by ``tools``, whatever the conversation has to announce is said (a new agent's
    greeting after a handoff), and the conversation is asked for the next request with the
    results, up to ``max_tool_rounds`` times. Tool calls without a ``tools`` runner are ignored.
    """
    chunker = ClauseChunker()
    reply.timeline.model_request = clock.now()
    messages = list(history)
    for round_ in range(max_tool_rounds + 1):
        calls: list[ToolCallRequest] = []
        async for piece in _model_round(conversation, messages, reply, clock, chunker, calls):
            yield piece
        if not calls or tools is None:
            break
        if round_ == max_tool_rounds:
            raise ToolLoopError(f"the model asked for tools {round_ + 1} times in a row without answering")
        for piece in chunker.flush():
            yield piece
        running = asyncio.ensure_future(tools.run(calls))
        try:
            if filler and not await _done_within(running, clock, filler_after_s):
                async for piece in text_clauses(filler):
                    yield piece
            recorded = await running
        finally:
            if not running.done():
                running.cancel()
        reply.tool_messages += recorded
        messages += recorded
        for text in conversation.announcements():
            async for piece in text_clauses(text):
                yield piece
    for piece in chunker.flush():
        yield piece


async def _model_round(
    conversation: Conversation,
    messages: Sequence[Message],
    reply: Reply,
    clock: Clock,
    chunker: ClauseChunker,
    calls: list[ToolCallRequest],
) -> AsyncIterator[str]:
    """One model request: its text as clauses, its tool calls into ``calls``, its usage into the
    reply, its span into the reply's trace."""
    model, request = conversation.request(messages)
    span = reply.trace.model(request.model or "", conversation.agent)
    timeline, first, error = reply.timeline, True, None
    stream = model.stream(request)
    try:
        async for item in stream:
            if isinstance(item, ToolCallRequest):
                calls.append(item)
            elif isinstance(item, ModelUsage):
                reply.add_usage(item)
                span.usage(item.model, item.prompt_tokens, item.completion_tokens)
            else:
                if first:
                    first, now = False, clock.now()
                    span.first_token(now)
                    if timeline.model_first_token is None:
                        timeline.model_first_token = now
                for piece in chunker.feed(item.text):
                    yield piece
    except BaseException as exc:  # a failing router, or the reply closed by a barge-in
        error = exc
        raise
    finally:
        await aclose(stream)
        span.end(tool_calls=len(calls), error=error)
        error = None  # the exception's traceback holds this frame: no cycle through it


async def _done_within(task: asyncio.Future[Any], clock: Clock, seconds: float) -> bool:
    """Wait for ``task`` at most ``seconds`` on ``clock``; whether it finished."""
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    return task.done()


class Speaker:
    """One call's voice: turns clauses into paced 16 kHz frames on the channel."""

    def __init__(
        self,
        tts: TTSProvider,
        playout: Playout,
        clock: Clock,
        *,
        voice: Callable[[], VoiceSpec | None] = lambda: None,
        agent: Callable[[], str] = lambda: "",
    ) -> None:
        self._tts = tts
        self._playout = playout
        self._clock = clock
        self._voice, self._agent = voice, agent
        """Asked for each clause as it is taken: after a handoff, the new agent's voice."""

    async def speak(
        self, clauses: AsyncIterator[str], reply: Reply, on_first_frame: Callable[[float], None]
    ) -> float:
        """Speak every clause; returns the ms heard. A failing provider raises its own error once
        the audio it produced before failing has been played."""
        queue = FrameQueue()

        def first_frame(at: float) -> None:
            reply.timeline.first_frame_sent = at
            on_first_frame(at)

        # Two tasks by hand rather than a TaskGroup: on Python 3.11 a cancelled TaskGroup leaves
        # its CancelledError, traceback and frames in a reference cycle, and a barge-in cancels
        # a reply: on a busy worker that garbage made the collector's pauses stall every call.
        synthesis = asyncio.create_task(self._synthesize(clauses, reply, queue), name="synthesize")
        try:
            heard = await self._playout.play(queue, on_first_frame=first_frame)
        finally:
            if not synthesis.done():
                synthesis.cancel()
            await asyncio.wait({synthesis})  # the model and TTS streams are closed by now
        error = None if synthesis.cancelled() else synthesis.exception()
        if error is not None:  # what was synthesized before the failure has been played
            raise error
        return heard

    async def _synthesize(self, clauses: AsyncIterator[str], reply: Reply, queue: FrameQueue) -> None:
        # One splitter for the whole reply: a clause's audio rarely ends on a frame boundary, and
        # padding each clause to a whole frame would put up to 20 ms of silence between them.
        splitter = FrameSplitter(SAMPLE_RATE)
        clause: Clause | None = None
        try:
            try:
                async for piece in clauses:
                    clause = Clause(piece, agent=self._agent())
                    reply.clauses.append(clause)
                    await self._render(normalize_for_speech(piece), clause, reply.timeline, splitter, queue)
            finally:
                await aclose(clauses)
            if clause is not None:
                self._queue_frames(splitter.flush(), clause, queue)
        finally:
            queue.close()

    async def _render(
        self,
        text: str,
        clause: Clause,
        timeline: TurnTimeline,
        splitter: FrameSplitter,
        queue: FrameQueue,
    ) -> None:
        if timeline.tts_request is None:
            timeline.tts_request = self._clock.now()
        resampler: Resampler | None = None
        chunks = self._tts.synthesize(text, voice=self._voice())
        try:
            async for chunk in chunks:
                if timeline.tts_first_audio is None:
                    timeline.tts_first_audio = self._clock.now()
                resampler = resampler or Resampler(chunk.sample_rate, SAMPLE_RATE)
                self._queue_frames(splitter.feed(resampler.process(chunk.pcm)), clause, queue)
        finally:
            await aclose(chunks)
        if resampler is not None:
            self._queue_frames(splitter.feed(resampler.flush()), clause, queue)
        clause.complete = True

    @staticmethod
    def _queue_frames(frames: list[bytes], clause: Clause, queue: FrameQueue) -> None:
        if frames:
            clause.frames += len(frames)
            queue.put(frames)
