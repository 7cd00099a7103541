"""The scripted calls of the `session` benchmark: the callers, the channel and the providers.

Everything here is as cheap as it can be made, so that what the benchmark measures is the
engine: a caller is a list of (frame, count) segments played by one shared timer, the channel
is a deque and a future, the VAD knows the caller's speech frame by identity, the recogniser
counts frames. The test kit's FakeModel and FakeTTS answer at zero latency. The fakes' records
of what they did are dropped after every turn, as a real provider keeps none.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from artagent.bus.outbox import CallEmitter
from artagent.events import AgentResponseGenerated, CallEnded, Event, PlaybackStarted
from artagent.observability.calltrace import CallTrace
from artagent.observability.metrics import CallMetrics, CallTelemetry
from artagent.observability.tracing import Tracing
from artagent.providers import TextDelta, Transcript
from artagent.session.engine import Session, SessionSettings
from artagent.session.latency import SessionMetrics
from artagent.session.playout import LoopClock
from artagent.testing import FakeModel, FakeTTS, FakeTurnDetector, ScriptedResponse
from artagent.testing.audio import FRAME_S, silence_frame, tone_frame
from prometheus_client import CollectorRegistry

SAMPLE_RATE = 16_000
UTTERANCE = "I would like to change the delivery address of my order."
REPLY = "Sure, I can change that address for you right now."
GREETING = SessionSettings().greeting
TTS_S_PER_CHAR = 0.05
SILENCE_S = 0.5
"""What the turn detector asks for, after every turn."""
SPEECH_S = 1.0
GREETING_WAIT_S = len(GREETING) * TTS_S_PER_CHAR + 0.9
REPLY_S = len(REPLY) * TTS_S_PER_CHAR
BARGE_AFTER_S = 0.8
"""How far into the agent's reply the caller starts speaking again."""
MARGIN_S = 0.6
"""Silence after a reply has been played, before the caller speaks again."""

# -- what is measured ---------------------------------------------------------------------------


@dataclass
class Stats:
    """Every call's samples, in one place (per-call lists would only be merged at the end)."""

    overhead_ms: list[float] = field(default_factory=list)
    provider_ms: list[float] = field(default_factory=list)
    barge_in_ms: list[float] = field(default_factory=list)
    barge_in_engine_ms: list[float] = field(default_factory=list)
    underruns: int = 0
    hangups: int = 0

    def add_turn(self, event: AgentResponseGenerated) -> None:
        """One reply's overhead: its wire-to-wire latency less the silence and provider time."""
        lat = event.latency
        if lat is None or lat.total_ms is None:
            return
        provider = (lat.model_first_token_ms or 0.0) + (lat.tts_first_audio_ms or 0.0)
        waited = max(SILENCE_S * 1000, lat.stt_ms or 0.0)
        self.overhead_ms.append(lat.total_ms - waited - provider)
        self.provider_ms.append(provider)


class BenchChannel:
    """A MediaChannel as lean as a real one: caller frames wait in a deque, one future wakes the
    engine when the deque was empty (as a WebSocket reader would). It times each caller frame's
    arrival and hand-over to the engine, and the barge-in flushes against them; it counts the
    frames sent and the underruns instead of keeping the audio."""

    def __init__(self, clock: LoopClock, stats: Stats) -> None:
        self.clock = clock
        self.stats = stats
        self._inbound: deque[bytes] = deque()
        self._arrivals: deque[float] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self._handling = False
        """The engine is working on a caller frame (between two steps of frames())."""
        self._arrived = self._handed = 0.0
        """When the frame being handled arrived, and when the engine took it."""
        self._play_end = 0.0
        self._new_utterance = False

    # -- the caller's side --------------------------------------------------------------------
    def push(self, frame: bytes) -> None:
        self._inbound.append(frame)
        self._arrivals.append(self.clock.now())
        self._wake()

    def leave(self) -> None:
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the engine's side (MediaChannel) -----------------------------------------------------
    async def frames(self) -> AsyncGenerator[bytes, None]:
        inbound, arrivals, loop = self._inbound, self._arrivals, asyncio.get_running_loop()
        while True:
            while inbound:
                self._arrived, self._handed, self._handling = arrivals.popleft(), loop.time(), True
                yield inbound.popleft()
                self._handling = False
            if self._ended:
                return
            self._waiter = loop.create_future()
            await self._waiter
            self._waiter = None

    def utterance_started(self) -> None:
        """The next frame sent is an utterance's first: silence before it is no underrun."""
        self._new_utterance = True

    async def send(self, frame: bytes) -> None:
        now = self.clock.now()
        if self._new_utterance:
            self._new_utterance = False
        elif now > self._play_end:
            self.stats.underruns += 1
        self._play_end = max(now, self._play_end) + FRAME_S

    async def flush(self) -> None:
        now = self._play_end = self.clock.now()
        if self._handling:  # a flush while a caller frame is handled: a barge-in
            self.stats.barge_in_ms.append((now - self._arrived) * 1000)
            self.stats.barge_in_engine_ms.append((now - self._handed) * 1000)

    async def hangup(self, reason: str) -> None:
        self.leave()


class CallSink:
    """One call's outbox: keeps the figures of the events, not the events."""

    def __init__(self, stats: Stats, channel: BenchChannel) -> None:
        self.stats = stats
        self.channel = channel

    def publish(self, event: Event) -> None:
        if isinstance(event, AgentResponseGenerated):
            self.stats.add_turn(event)
        elif isinstance(event, PlaybackStarted):
            self.channel.utterance_started()
        elif isinstance(event, CallEnded) and event.reason == "caller_hangup":
            self.stats.hangups += 1


# -- one call -----------------------------------------------------------------------------------


def barge_ins(turns: int) -> list[bool]:
    """Per caller turn, whether the caller interrupts the reply to it: every third, from the first."""
    return [turn % 3 == 0 for turn in range(turns)]


def call_seconds(turns: int) -> float:
    """How long the scripted caller stays on the line."""
    after_reply = SILENCE_S + REPLY_S + MARGIN_S
    turn_s = [
        SPEECH_S + (SILENCE_S + BARGE_AFTER_S + SPEECH_S if b else 0.0) + after_reply
        for b in barge_ins(turns)
    ]
    return GREETING_WAIT_S + sum(turn_s)


SPEECH = tone_frame()
SILENCE = silence_frame()
Script = list[tuple[bytes, int, Callable[[], None] | None]]


def caller_script(
    turns: int, after_turn: Callable[[], None]
) -> list[tuple[bytes, int, Callable[[], None] | None]]:
    """The scripted caller as (frame, how many, called after the last of them) segments."""

    def frames(seconds: float) -> int:
        return round(seconds / FRAME_S)

    script: Script = [(SILENCE, frames(GREETING_WAIT_S), None)]
    for barge_in in barge_ins(turns):
        script.append((SPEECH, frames(SPEECH_S), None))
        if barge_in:
            script += [(SILENCE, frames(SILENCE_S + BARGE_AFTER_S), None), (SPEECH, frames(SPEECH_S), None)]
        script.append((SILENCE, frames(SILENCE_S + REPLY_S + MARGIN_S), after_turn))
    return script


class Caller:
    """One scripted caller: the next frame at each tick, then hanging up."""

    def __init__(
        self, channel: BenchChannel, script: list[tuple[bytes, int, Callable[[], None] | None]]
    ) -> None:
        self.channel = channel
        self._segments = iter(script)
        self._frame, self._left, self._then = SILENCE, 0, None
        self.done = asyncio.get_running_loop().create_future()

    def tick(self) -> bool:
        """Deliver one frame; False once the caller has hung up."""
        while self._left == 0:
            if self._then is not None:
                self._then()
            segment = next(self._segments, None)
            if segment is None:
                self.channel.leave()
                self.done.set_result(None)
                return False
            self._frame, self._left, self._then = segment
        self._left -= 1
        self.channel.push(self._frame)
        return True


class CallerBank:
    """Every caller on a shared tick of the loop clock: the 20 ms frame period is cut in
    ``PHASES`` slots, and each caller delivers a frame every 20 ms in its own slot (packets of
    different calls do not all arrive at the same instant), one timer for all of them."""

    PHASES = 10

    def __init__(self) -> None:
        self._slots: list[list[Caller]] = [[] for _ in range(self.PHASES)]
        self._next = 0

    def add(self, caller: Caller) -> None:
        self._slots[self._next % self.PHASES].append(caller)
        self._next += 1

    def __len__(self) -> int:
        return sum(len(slot) for slot in self._slots)

    async def run(self, until: asyncio.Future[None]) -> None:
        loop = asyncio.get_running_loop()
        tick, period, phase = loop.time(), FRAME_S / self.PHASES, 0
        while not (until.done() and not len(self)):
            tick += period
            await asyncio.sleep(tick - loop.time())
            slot = self._slots[phase]
            slot[:] = [caller for caller in slot if caller.tick()]
            phase = (phase + 1) % self.PHASES


class BenchVAD:
    """Speech when the frame is the caller's speech frame: a detector that costs nothing."""

    async def speech_probability(self, frame: bytes) -> float:
        return 1.0 if frame is SPEECH else 0.0


class BenchSTT:
    """A partial every 10 speech frames (one word more each), the final result at once."""

    def __init__(self) -> None:
        self._words = UTTERANCE.split()
        self._speech = 0
        self._queue: asyncio.Queue[Transcript | None] = asyncio.Queue()

    async def push(self, frame: bytes) -> None:
        if frame is SPEECH:
            self._speech += 1
            if self._speech % 10 == 0 and self._speech // 10 <= len(self._words):
                partial = " ".join(self._words[: self._speech // 10])
                self._queue.put_nowait(Transcript(text=partial, is_final=False))

    async def end_of_speech(self) -> None:
        self._speech = 0
        self._queue.put_nowait(Transcript(text=UTTERANCE, is_final=True, confidence=1.0))

    async def results(self) -> AsyncGenerator[Transcript, None]:
        while (item := await self._queue.get()) is not None:
            yield item

    async def close(self) -> None:
        self._queue.put_nowait(None)


@dataclass
class Providers:
    """One call's fakes. They record everything they did, for tests to assert; a production
    provider keeps nothing, so the benchmark drops the records after every turn (kept, they
    would be half the objects the garbage collector walks and a good part of the memory)."""

    vad: BenchVAD
    stt: BenchSTT
    tts: FakeTTS
    model: FakeModel
    turn_detector: FakeTurnDetector

    @classmethod
    def open(cls, clock: LoopClock, stats: Stats, args: argparse.Namespace) -> Providers:
        reply: ScriptedResponse = REPLY if args.stream_words else [TextDelta(REPLY)]
        return cls(
            vad=BenchVAD(),
            stt=BenchSTT(),
            tts=FakeTTS(
                clock, sample_rate=args.tts_rate, seconds_per_char=TTS_S_PER_CHAR, first_audio_latency_s=0.0
            ),
            model=FakeModel(clock, lambda _: reply, first_token_latency_s=0.0, inter_token_s=0.0),
            turn_detector=FakeTurnDetector(SILENCE_S),
        )

    def forget(self) -> None:
        """Drop the records (none of them is read back by the fakes with these settings)."""
        self.tts.syntheses.clear()
        self.model.calls.clear()
        self.turn_detector.asked.clear()


@dataclass
class Shared:
    """What every call of a run shares, as in a worker."""

    stats: Stats = field(default_factory=Stats)
    clock: LoopClock = field(default_factory=LoopClock)
    metrics: SessionMetrics = field(default_factory=lambda: SessionMetrics(CollectorRegistry()))
    callers: CallerBank = field(default_factory=CallerBank)
    tracing: Tracing = field(default_factory=Tracing)
    """The worker's tracer: disabled (no endpoint) unless the run traces its calls."""
    call_metrics: CallMetrics = field(default_factory=lambda: CallMetrics(CollectorRegistry()))


def one_call(name: str, args: argparse.Namespace, shared: Shared) -> Coroutine[Any, Any, None]:
    """Build one call and put its caller on the shared timer now (not when the call's task first
    runs: the timer ends once every caller it has is done), and return the coroutine to run."""
    clock = shared.clock
    channel = BenchChannel(clock, shared.stats)
    fakes = Providers.open(clock, shared.stats, args)
    trace = shared.tracing.call(name, clock)  # as the launcher does: traced or not, counted
    telemetry = CallTelemetry(trace, shared.call_metrics)
    session = Session(
        channel=channel,
        vad=fakes.vad,
        stt=fakes.stt,
        tts=fakes.tts,
        turn_detector=fakes.turn_detector,
        model=fakes.model,
        emitter=CallEmitter(name, CallSink(shared.stats, channel), observer=telemetry),
        clock=clock,
        settings=SessionSettings(channel="bench"),
        metrics=shared.metrics,
        trace=trace,
    )
    caller = Caller(channel, caller_script(args.turns, fakes.forget))
    shared.callers.add(caller)
    return _talk(session, caller, trace)


async def _talk(session: Session, caller: Caller, trace: CallTrace) -> None:
    with trace.active():
        await session.run()
    await caller.done
