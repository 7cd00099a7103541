"""A whole call on the test bench: a scripted caller, fake providers, a real :class:`Session`.

:class:`CallHarness` wires the fakes to a session the way the launcher does in production, and
keeps everything a test asserts on: the events in the order they were published, the frames
sent (with their clock times, and how many had gone when each flush came), what the model was
asked and what the synthesiser said. Drive it on a
:class:`~artagent.testing.VirtualClock`::

    def test_greeting(virtual_clock):
        call = CallHarness.build(virtual_clock, utterances=["Hi."], responses=["Hello!"])

        async def caller():
            task = await call.start(SessionSettings(greeting="Welcome."))
            await call.channel.silence(1.0)
            await call.channel.say(1.0)
            await call.channel.silence(3.0)
            call.channel.leave()
            await task

        virtual_clock.run(caller())
        assert call.types()[-1] == "call_ended"
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from artagent.bus.outbox import CallEmitter
from artagent.events import Event
from artagent.observability.calltrace import NO_TRACE, CallTrace
from artagent.observability.metrics import CallTelemetry
from artagent.session.engine import Session, SessionSettings
from artagent.session.latency import SessionMetrics
from artagent.session.playout import Clock
from artagent.testing.channel import FakeChannel
from artagent.testing.fakes import FakeSTT, FakeSTTStream, FakeTTS, FakeTurnDetector, FakeVAD, FakeVADStream
from artagent.testing.model import FakeModel, ScriptedResponse

__all__ = ["CallHarness", "RecordingPublisher"]

E = TypeVar("E", bound=Event)


class RecordingPublisher:
    """Stands in for the outbox: keeps every event published, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        self.events.append(event)


@dataclass
class CallHarness:
    clock: Clock
    channel: FakeChannel
    stt: FakeSTT
    tts: FakeTTS
    model: FakeModel
    vad: FakeVAD = field(default_factory=FakeVAD)
    turn_detector: FakeTurnDetector = field(default_factory=lambda: FakeTurnDetector(0.5))
    call_id: str = "call-1"
    publisher: RecordingPublisher = field(default_factory=RecordingPublisher)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    session: Session | None = None

    @classmethod
    def build(
        cls,
        clock: Clock,
        utterances: Sequence[str] = (),
        responses: Sequence[ScriptedResponse] = (),
        *,
        stt_latency_s: float = 0.2,
        first_token_latency_s: float = 0.3,
        **tts: Any,
    ) -> CallHarness:
        """A call whose caller says ``utterances`` (one per stretch of speech) and whose model
        answers ``responses`` in order; ``tts`` options go to :class:`FakeTTS`."""
        return cls(
            clock=clock,
            channel=FakeChannel(clock),
            stt=FakeSTT(clock, utterances, partial_every=0, final_latency_s=stt_latency_s),
            tts=FakeTTS(clock, **tts),
            model=FakeModel(clock, responses, first_token_latency_s=first_token_latency_s, inter_token_s=0.0),
        )

    async def start(
        self, settings: SessionSettings | None = None, *, trace: CallTrace = NO_TRACE, **session: Any
    ) -> asyncio.Task[None]:
        """Build the session (extra keyword arguments go to :class:`Session`) and start it;
        ``trace`` (``Tracing(provider).call(...)``) traces it as the launcher would. A
        recogniser or VAD that fails is replaced by a new stream of the same fake."""

        async def open_stt() -> FakeSTTStream:
            previous = self.stt.streams[-1] if self.stt.streams else None
            stream = await self.stt.open(sample_rate=16_000)
            if previous is not None:  # a replacement recogniser: the caller's script goes on
                stream.segment = previous.segment
            return stream

        def open_vad() -> FakeVADStream:
            return self.vad.open(sample_rate=16_000)

        session.setdefault("open_stt", open_stt)
        session.setdefault("open_vad", open_vad)
        self.session = Session(
            channel=self.channel,
            vad=open_vad(),
            stt=await open_stt(),
            tts=self.tts,
            turn_detector=self.turn_detector,
            model=self.model,
            emitter=CallEmitter(self.call_id, self.publisher, observer=CallTelemetry(trace)),
            clock=self.clock,
            settings=settings,
            metrics=SessionMetrics(self.registry),
            trace=trace,
            **session,
        )
        return asyncio.create_task(_traced(self.session, trace), name=f"session-{self.call_id}")

    @property
    def events(self) -> list[Event]:
        return self.publisher.events

    def of(self, kind: type[E]) -> list[E]:
        """The events of one type, in order."""
        return [event for event in self.events if isinstance(event, kind)]

    def types(self) -> list[str]:
        """Every event's type tag, in order."""
        return [event.type_tag() for event in self.events]

    def spoken(self) -> list[str]:
        """What the synthesiser was asked to say, clause by clause."""
        return [synthesis.text for synthesis in self.tts.syntheses]


async def _traced(session: Session, trace: CallTrace) -> None:
    with trace.active():
        await session.run()
