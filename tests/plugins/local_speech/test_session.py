"""The real session engine with the plugin's real VAD, recogniser and voice: a caller says a
sentence, the model hears it, the answer is spoken. Real time (the models take real time); the
model is the test kit's scripted one."""

from __future__ import annotations

import asyncio

from _speech_corpus import CLAIMS, word_error_rate
from _speechkit import SILENCE, Kit, frames
from artagent.audio import rms_dbfs
from artagent.bus.outbox import CallEmitter
from artagent.events import AgentResponseGenerated, SpeechStarted, SpeechStopped, TranscriptionReceived
from artagent.session.engine import Session, SessionSettings
from artagent.session.playout import LoopClock
from artagent.session.turns import EndpointingTurnDetector
from artagent.testing import FakeChannel, FakeModel, RecordingPublisher

GREETING = "Thank you for calling Acme Insurance."
ANSWER = "I am sorry to hear that. Let me open a claim for you."


class Caller:
    """Plays audio into the channel at real time, a frame every 20 ms, silence when it has
    nothing to say (a phone line never stops sending)."""

    def __init__(self, channel: FakeChannel, clock: LoopClock) -> None:
        self.channel = channel
        self.clock = clock
        self.queue: list[bytes] = []

    def say(self, pcm: bytes) -> None:
        self.queue.extend(frames(pcm))

    async def run(self) -> None:
        start = self.clock.now()
        k = 0
        while self.channel.hangup_reason is None:
            k += 1
            await self.clock.sleep(start + k * 0.02 - self.clock.now())
            self.channel.push(self.queue.pop(0) if self.queue else SILENCE)


async def wait_for(publisher: RecordingPublisher, kind: type, count: int = 1, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while sum(isinstance(e, kind) for e in publisher.events) < count:  # noqa: ASYNC110 (polling the record)
            await asyncio.sleep(0.02)


async def test_a_spoken_turn_is_heard_understood_and_answered(kit: Kit, piper_claims: list[bytes]) -> None:
    clock = LoopClock()
    channel = FakeChannel(clock)
    publisher = RecordingPublisher()
    model = FakeModel(clock, [ANSWER], first_token_latency_s=0.05, inter_token_s=0.0)
    session = Session(
        channel=channel,
        vad=kit.vad.open(sample_rate=16_000),
        stt=await kit.stt.open(sample_rate=16_000),
        tts=kit.tts,
        turn_detector=EndpointingTurnDetector(),
        model=model,
        emitter=CallEmitter("local-call", publisher),
        clock=clock,
        settings=SessionSettings(greeting=GREETING, farewell="", idle_reprompt_s=60, idle_hangup_s=120),
    )
    caller = Caller(channel, clock)
    line = asyncio.create_task(caller.run())
    call = asyncio.create_task(session.run())
    await wait_for(publisher, AgentResponseGenerated)  # the greeting has been played
    greeting_frames = len(channel.sent)
    caller.say(piper_claims[0])  # "Hi, my name is Sarah Johnson and I would like to report an accident."
    await wait_for(publisher, AgentResponseGenerated, count=2)
    await clock.sleep(0.3)
    channel.leave()
    await asyncio.wait_for(call, 10)
    line.cancel()

    finals = [e for e in publisher.events if isinstance(e, TranscriptionReceived) and e.is_final]
    heard = " ".join(e.text for e in finals)
    assert word_error_rate([CLAIMS[0]], [heard]) <= 0.1, heard
    [asked] = model.requests
    assert asked.messages[-1].role == "user" and asked.messages[-1].content == heard
    started = [e for e in publisher.events if isinstance(e, SpeechStarted)]
    stopped = [e for e in publisher.events if isinstance(e, SpeechStopped)]
    assert started and stopped and started[0].seq < finals[0].seq
    greeting, answer = [e for e in publisher.events if isinstance(e, AgentResponseGenerated)]
    assert (greeting.text, answer.text, answer.interrupted) == (GREETING, ANSWER, False)
    assert answer.latency is not None and answer.latency.total_ms > 0
    # The answer was spoken in Piper's voice: more than a second of loud audio after the greeting.
    loud = [f for f in channel.sent[greeting_frames:] if rms_dbfs(f.pcm) > -35]
    assert len(loud) * 0.02 > 1.0
