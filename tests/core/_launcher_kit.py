"""Helpers shared by the launcher tests and their second worker process (_launcher_proc.py).

Calls here run on the real event loop and real time (the state goes to a real Redis), so every
latency is a few tens of milliseconds: a greeting and one turn take well under a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from artagent.config import SessionConfig, SpeechConfig
from artagent.events import AgentResponseGenerated, Event
from artagent.hookspecs import hookimpl
from artagent.providers import ProviderKind, ProviderRegistry, ProviderSpec
from artagent.session.playout import LoopClock
from artagent.testing import FakeChannel, FakeModel, FakeSTT, FakeTTS, FakeTurnDetector, FakeVAD
from artagent.testing.model import ScriptedResponse

E = TypeVar("E", bound=Event)

GREETING = "Hi, Acme here."
RESUME_GREETING = "Sorry, where were we?"
FAREWELL = "Bye now."


def session_config(**overrides: Any) -> SessionConfig:
    """``[session]`` for fast real-time calls: the idle timers never fire within a test."""
    values: dict[str, Any] = {
        "greeting": GREETING,
        "resume_greeting": RESUME_GREETING,
        "farewell": FAREWELL,
        "idle_reprompt_s": 300.0,
        "idle_hangup_s": 600.0,
        "speech": SpeechConfig(stop_ms=100.0),
        "turn_detector": "",
    }
    values.update(overrides)
    return SessionConfig(**values)


@dataclass
class Fakes:
    """One worker's providers, shared by its calls like real ones (per-call state in open())."""

    utterances: Sequence[str] = ()
    responses: Sequence[ScriptedResponse] = ()
    model_latency_s: float = 0.02
    clock: LoopClock = field(default_factory=LoopClock)

    def __post_init__(self) -> None:
        clock = self.clock
        self.vad = FakeVAD()
        self.stt = FakeSTT(clock, self.utterances, partial_every=0, final_latency_s=0.03)
        self.tts = FakeTTS(clock, seconds_per_char=0.004, first_audio_latency_s=0.01)
        self.model = FakeModel(
            clock, self.responses, first_token_latency_s=self.model_latency_s, inter_token_s=0.0
        )
        self.turn_detector = FakeTurnDetector(0.1)

    def specs(
        self, kinds: Sequence[ProviderKind] = ("vad", "stt", "tts", "turn_detector", "model")
    ) -> list[ProviderSpec]:
        built: dict[ProviderKind, Any] = {
            "vad": self.vad,
            "stt": self.stt,
            "tts": self.tts,
            "turn_detector": self.turn_detector,
            "model": self.model,
        }
        return [ProviderSpec(kind, "fake", _returning(built[kind])) for kind in kinds]

    def registry(self) -> ProviderRegistry:
        registry = ProviderRegistry()
        registry.extend(("fakes", spec) for spec in self.specs())
        return registry

    def spoken(self) -> list[str]:
        return [synthesis.text for synthesis in self.tts.syntheses]


def _returning(provider: Any) -> Callable[[Any], Any]:
    return lambda settings: provider


class FakeSpeechPlugin:
    """A plugin offering the fakes through ``register_providers``."""

    def __init__(self, fakes: Fakes, kinds: Sequence[ProviderKind] = ("vad", "stt", "tts", "model")) -> None:
        self.fakes, self.kinds = fakes, kinds

    @hookimpl
    def register_providers(self) -> list[ProviderSpec]:
        return self.fakes.specs(self.kinds)


class EventLog:
    """A publisher (stands in for the outbox) that keeps every event and can be waited on."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[E], call_id: str | None = None) -> list[E]:
        return [e for e in self.events if isinstance(e, kind) and call_id in (None, e.call_id)]

    def replies(self, call_id: str | None = None) -> list[str]:
        return [e.text for e in self.of(AgentResponseGenerated, call_id)]

    def types(self, call_id: str | None = None) -> list[str]:
        return [e.type_tag() for e in self.events if call_id in (None, e.call_id)]


async def wait_until(predicate: Callable[[], Any], *, within: float = 5.0, what: str = "condition") -> Any:
    """Poll ``predicate`` (sync or async) until it is truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.01)


async def silent_until(channel: FakeChannel, done: Callable[[], bool], *, within: float = 5.0) -> None:
    """The caller stays silent (a frame every 20 ms, as a phone sends) until ``done()``."""
    deadline = time.monotonic() + within
    while not done():
        if channel.hangup_reason is not None:
            raise AssertionError(f"the agent hung up ({channel.hangup_reason}) while the caller waited")
        if time.monotonic() > deadline:
            raise AssertionError(f"the caller waited {within}s in silence for nothing")
        await channel.silence(0.02)


async def stay_silent(channel: FakeChannel) -> None:
    """A caller who says nothing until the agent hangs up."""
    while channel.hangup_reason is None:
        await channel.silence(0.1)


async def one_turn(channel: FakeChannel, log: EventLog, call_id: str) -> None:
    """The caller speaks for 0.3 s, then is silent until the agent has answered."""
    answered = len(log.replies(call_id))
    await channel.say(0.3)
    await silent_until(channel, lambda: len(log.replies(call_id)) > answered)
