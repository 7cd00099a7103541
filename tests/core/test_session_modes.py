"""Session modes: ``[session] mode`` and ``[session.modes]`` send a call to the pipeline or to a
realtime mode a plugin registered (kind ``realtime``); the launcher hands the realtime mode the
call's state, events, agents (prompt and tools without a model router) and ``[session] tts``;
a mode or scenario that is not installed is an error naming its key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _agents_kit import agents_layer
from _launcher_kit import EventLog, Fakes, one_turn, session_config, silent_until
from artagent.agents.routing import ModelRouting
from artagent.bus.redis import EmbeddedRedis
from artagent.calls import ActiveCalls
from artagent.config import ConfigError, ModesConfig
from artagent.events import CallEnded, CallStarted
from artagent.providers import ProviderRegistry, ProviderSpec
from artagent.session.launcher import SessionLauncher, SessionUnavailableError
from artagent.session.modes import CallSession, ModeSelector, RealtimeCall, RealtimeMode
from artagent.session.state import Message, SessionState
from artagent.testing import FakeChannel
from artagent.testing.clock import VirtualClock
from redis.asyncio import Redis


@pytest.fixture
async def redis(embedded_redis: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(embedded_redis.url)
    yield client
    await client.aclose()


class ListeningSession:
    """A realtime session that only listens: it counts the caller's frames until they stop."""

    def __init__(self, call: RealtimeCall) -> None:
        self.call, self.frames = call, 0

    @property
    def call_id(self) -> str:
        return self.call.state.call_id

    @property
    def state(self) -> SessionState:
        return self.call.state

    @property
    def history(self) -> list[Message]:
        return self.call.state.history

    def emit(self, event_type: Any, **fields: Any) -> Any:
        return self.call.emitter.emit(event_type, **fields)

    def end_after_reply(self, reason: str) -> None:
        pass

    def escalate(self, reason: str, target: str | None = None) -> None:
        pass

    def set_outcome(self, outcome: str) -> None:
        pass

    async def run(self) -> None:
        self.call.conversation.bind(self)
        self.emit(CallStarted, channel=self.call.settings.channel)
        async for _ in self.call.channel.frames():
            self.frames += 1
        self.call.emitter.emit(CallEnded, reason="caller_hangup")

    async def end(self, reason: str, *, farewell: bool = True) -> None:
        await self.call.channel.hangup(reason)

    async def submit_text(self, text: str, *, source: str = "text") -> None:
        pass

    async def until_quiet(self) -> None:
        pass


class ListeningMode:
    def __init__(self) -> None:
        self.opened: list[ListeningSession] = []

    def open(self, call: RealtimeCall) -> CallSession:
        session = ListeningSession(call)
        self.opened.append(session)
        return session


def realtime_launcher(
    redis: Redis,
    log: EventLog,
    listening: ListeningMode,
    *,
    registry: ProviderRegistry | None = None,
    routers: tuple[str, ...] = (),
    **cfg: Any,
) -> SessionLauncher:
    """The acme scenario (tests/core/agents_kit) with no model router at all, and the
    ``listening`` realtime mode."""
    assert isinstance(listening, RealtimeMode)
    layer, _ = agents_layer(VirtualClock(), [])
    registry = registry or ProviderRegistry()
    layer.routing = ModelRouting(registry, routers)
    registry.add(ProviderSpec("realtime", "listening", lambda settings: listening), owner="test")
    config, calls = session_config(**cfg), ActiveCalls()
    return SessionLauncher(
        config, registry, publisher=log, redis=redis, calls=calls, worker="w", agents=layer
    )


async def test_a_call_runs_in_its_scenarios_mode_without_speech_providers_or_routers(redis: Redis) -> None:
    log, mode = EventLog(), ListeningMode()
    sessions = realtime_launcher(redis, log, mode, modes=ModesConfig(scenarios={"acme": "listening"}))
    assert {"vad", "stt", "tts", "model"} <= set(sessions.missing)  # the pipeline could not run here
    channel = FakeChannel(Fakes().clock)
    call = asyncio.create_task(sessions.run("rt-1", channel, channel_name="test", callee="+15550001"))
    await channel.silence(0.2)
    channel.leave()
    session = await asyncio.wait_for(call, 5)

    [opened] = mode.opened
    assert session is opened and opened.frames == 10
    assert isinstance(session, CallSession)
    given = opened.call
    assert (given.state.call_id, given.callee, given.tts) == ("rt-1", "+15550001", None)
    assert given.settings.channel == "test"
    request = given.conversation.describe(given.state.history)
    assert request.messages[0].content.startswith("You are the receptionist of acme")
    tools = {spec.name for spec in request.tools}
    assert tools == {"look_up", "call_human", "handoff_to_billing", "handoff_to_support"}
    assert given.conversation.voice is not None and given.conversation.voice.name == "ava"
    assert log.types("rt-1") == ["call_started", "call_ended"]
    assert "rt-1" not in sessions._calls and await sessions.store.owner("rt-1") is None


async def test_the_called_number_decides_before_the_scenario(redis: Redis) -> None:
    log, mode = EventLog(), ListeningMode()
    modes = ModesConfig(scenarios={"acme": "listening"}, numbers={"+15550002": "pipeline"})
    sessions = realtime_launcher(redis, log, mode, modes=modes)
    with pytest.raises(SessionUnavailableError, match="no vad provider"):
        await sessions.run("rt-2", FakeChannel(Fakes().clock), channel_name="test", callee="+15550002")
    assert mode.opened == [] and log.events == []
    assert sessions.modes.choose(channel="test", callee="+15550003") == "listening"
    assert sessions.modes.choose(channel="test", scenario="acme", callee="+15550002") == "pipeline"


async def test_pipeline_calls_and_text_calls_stay_in_the_pipeline(redis: Redis) -> None:
    fakes, log, mode = Fakes(["Hello?"], ["Hi, Acme here."]), EventLog(), ListeningMode()
    sessions = realtime_launcher(
        redis, log, mode, registry=fakes.registry(), routers=("fake",), mode="listening", turn_detector="fake"
    )
    channel = FakeChannel(fakes.clock)
    # ``speech`` replaces the pipeline's providers: a text call has no audio for a realtime model
    speech = {"vad": fakes.vad, "stt": fakes.stt, "tts": fakes.tts, "model": fakes.model}
    call = asyncio.create_task(sessions.run("txt-1", channel, channel_name="cli", speech=speech))
    await silent_until(channel, lambda: len(log.replies("txt-1")) >= 1)
    await one_turn(channel, log, "txt-1")
    channel.leave()
    await asyncio.wait_for(call, 5)
    assert mode.opened == []
    assert log.replies("txt-1")[-1] == "Hi, Acme here."


@pytest.mark.parametrize(
    ("cfg", "path", "message"),
    [
        ({"mode": "voicelive"}, "session.mode", "no session mode named 'voicelive' (listening, pipeline)"),
        (
            {"modes": ModesConfig(scenarios={"acme": "realtim"})},
            "session.modes.scenarios.acme",
            "no session mode named 'realtim'",
        ),
        (
            {"modes": ModesConfig(numbers={"+15550004": "nope"})},
            'session.modes.numbers."+15550004"',
            "no session mode named 'nope'",
        ),
        (
            {"modes": ModesConfig(scenarios={"insurance": "listening"})},
            "session.modes.scenarios.insurance",
            "no scenario named 'insurance' (acme)",
        ),
    ],
)
async def test_a_mode_or_scenario_not_installed_is_an_error_naming_its_key(
    redis: Redis, cfg: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        realtime_launcher(redis, EventLog(), ListeningMode(), **cfg)
    [issue] = caught.value.issues
    assert issue.path == path and issue.message.startswith(message)


def test_mode_selector_without_agents_uses_the_number_then_the_default() -> None:
    config = session_config(mode="pipeline", modes=ModesConfig(numbers={"+1": "listening"}))
    selector = ModeSelector(config, ["listening"])
    assert selector.choose(channel="acs", callee="+1") == "listening"
    assert selector.choose(channel="acs", callee="+2") == "pipeline"
    assert selector.used == {"pipeline", "listening"}
