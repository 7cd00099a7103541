"""The session launcher on the real loop with a real (embedded) Redis: choosing providers from
``[session]``, running a call end to end with its state saved after every turn, refusing a call
another worker drives, resuming a call whose worker died, and ending calls politely on drain."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from _launcher_kit import (
    FAREWELL,
    GREETING,
    RESUME_GREETING,
    EventLog,
    Fakes,
    FakeSpeechPlugin,
    one_turn,
    session_config,
    silent_until,
    stay_silent,
    wait_until,
)
from artagent.bus.redis import EmbeddedRedis
from artagent.calls import ActiveCalls, DrainingError
from artagent.config import ConfigError, LoadedConfig
from artagent.events import AgentResponseGenerated, CallEnded, CallStarted
from artagent.plugins import PluginHost
from artagent.providers import ProviderRegistry, ProviderSpec
from artagent.runtime import Runtime
from artagent.session.launcher import (
    RESUME_SEQ_GAP,
    SessionLauncher,
    SessionUnavailableError,
    resolve_providers,
)
from artagent.session.persistence import CallOwnedElsewhereError
from artagent.session.state import SessionState
from artagent.testing import FakeChannel
from redis.asyncio import Redis

CHILD = Path(__file__).with_name("_launcher_proc.py")
MakeConfig = Callable[..., LoadedConfig]


@pytest.fixture
async def redis(embedded_redis: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(embedded_redis.url)
    yield client
    await client.aclose()


def launcher(
    fakes: Fakes, redis: Redis, log: EventLog, calls: ActiveCalls, worker: str, **cfg: Any
) -> SessionLauncher:
    return SessionLauncher(
        session_config(**cfg), fakes.registry(), publisher=log, redis=redis, calls=calls, worker=worker
    )


def conversation(state: SessionState | None) -> list[tuple[str, str]]:
    return [] if state is None else [(m.role, m.content) for m in state.history]


# -- choosing providers ----------------------------------------------------------------------
def test_empty_names_pick_the_one_provider_installed_of_each_kind() -> None:
    chosen, missing = resolve_providers(session_config(), Fakes().registry())
    assert chosen == {"vad": "fake", "stt": "fake", "tts": "fake", "turn_detector": "fake", "model": "fake"}
    assert missing == {}


def test_a_missing_or_ambiguous_provider_name_is_an_error_naming_its_key() -> None:
    registry = ProviderRegistry()
    for kind, name in [("stt", "whisper"), ("stt", "vosk"), ("tts", "piper")]:
        registry.add(ProviderSpec(kind, name, dict), owner="speech")  # type: ignore[arg-type]

    with pytest.raises(ConfigError) as caught:
        resolve_providers(session_config(stt="", tts="azure"), registry)
    issues = {issue.path: issue.message for issue in caught.value.issues}
    assert issues == {
        "session.stt": "several stt providers installed (vosk, whisper): name one",
        "session.tts": "no tts provider named 'azure' (piper)",
    }
    chosen, missing = resolve_providers(session_config(stt="vosk"), registry)
    assert (chosen["stt"], chosen["tts"]) == ("vosk", "piper")
    assert set(missing) == {"vad", "turn_detector", "model"}


def test_the_runtime_names_the_file_and_key_of_a_provider_not_installed(make_config: MakeConfig) -> None:
    host = PluginHost()
    host.register("speech", FakeSpeechPlugin(Fakes()))
    with pytest.raises(ConfigError) as caught:
        Runtime(make_config('[session]\nstt = "deepgram"\n'), host=host, load_entry_points=False)
    assert caught.value.source == "test.toml"
    assert str(caught.value) == "test.toml: session.stt: no stt provider named 'deepgram' (fake)"


async def test_a_kind_with_nothing_installed_keeps_the_worker_up_but_refuses_calls(
    make_config: MakeConfig,
) -> None:
    host = PluginHost()
    host.register("speech", FakeSpeechPlugin(Fakes(), kinds=("vad", "stt", "tts")))
    runtime = Runtime(make_config(), host=host, load_entry_points=False)
    assert runtime.sessions.names == {
        "vad": "fake",
        "stt": "fake",
        "tts": "fake",
        "turn_detector": "endpointing",
    }
    assert runtime.sessions.status.startswith("no model provider is installed")

    async with runtime.running():
        assert runtime.ready
        channel = FakeChannel(Fakes().clock)
        with pytest.raises(SessionUnavailableError, match="cannot start call 'c-1': no model provider"):
            await runtime.sessions.run("c-1", channel, channel_name="test")
        assert await runtime.outbox.flush()
        assert await runtime.redis.xlen(runtime.config.bus.stream) == 0, "no event for a call never started"
        assert "c-1" not in runtime.calls and await runtime.sessions.store.owner("c-1") is None
        assert channel.sent == [] and channel.hangup_reason is None


# -- a call through the launcher -------------------------------------------------------------
async def test_a_call_runs_with_its_state_saved_after_every_turn(redis: Redis) -> None:
    asks, answers = ["Where is my order?", "Thanks."], ["It ships tomorrow.", "You are welcome."]
    fakes, log, calls = Fakes(asks, answers, model_latency_s=0.3), EventLog(), ActiveCalls()
    sessions = launcher(fakes, redis, log, calls, "worker-a", state_ttl_s=600.0)
    channel = FakeChannel(fakes.clock)
    call = asyncio.create_task(
        sessions.run("c-1", channel, channel_name="test", caller="+15550001111", callee="+15550002222")
    )

    async def caller() -> None:
        await silent_until(channel, lambda: len(log.replies()) == 1)
        for _ in asks:
            await one_turn(channel, log, "c-1")
        channel.leave()

    script = asyncio.create_task(caller())
    # After the first answer, Redis holds the conversation so far while the call goes on.
    first = [("assistant", GREETING), ("user", asks[0]), ("assistant", answers[0])]
    state = await wait_until(lambda: _stored(sessions, "c-1", lambda s: conversation(s) == first))
    assert (state.turn, state.worker, state.channel) == (1, "worker-a", "test")
    assert not call.done() and "c-1" in calls
    assert await sessions.store.owner("c-1") == "worker-a"
    # The caller's turn is saved as soon as it ends, before the (0.3 s) answer comes.
    state = await wait_until(lambda: _stored(sessions, "c-1", lambda s: s.turn == 2))
    assert conversation(state)[-1] == ("user", asks[1])
    assert log.replies() == [GREETING, answers[0]], "saved before the model answered"

    await script
    session = await asyncio.wait_for(call, 5)
    assert "c-1" not in calls
    started, ended = log.events[0], log.events[-1]
    assert isinstance(started, CallStarted) and isinstance(ended, CallEnded)
    assert (started.channel, started.worker, started.resumed) == ("test", "worker-a", False)
    assert (started.caller, started.callee, started.scenario) == ("+15550001111", "+15550002222", None)
    assert (ended.reason, ended.turns) == ("caller_hangup", 2)
    assert [e.seq for e in log.events] == list(range(1, len(log.events) + 1))
    assert log.replies() == [GREETING, *answers]

    stored = await sessions.store.load("c-1")
    assert stored is not None and stored == session.state
    assert conversation(stored) == [*first, ("user", asks[1]), ("assistant", answers[1])]
    assert (stored.turn, stored.seq) == (2, ended.seq)
    ttl = await sessions.store.ttl("c-1")
    assert ttl is not None and 590 < ttl <= 600
    assert await sessions.store.owner("c-1") is None, "the lease is released at the end"


async def _stored(sessions: SessionLauncher, call_id: str, test: Callable[[SessionState], bool]) -> Any:
    state = await sessions.store.load(call_id)
    return state if state is not None and test(state) else None


# -- a call whose worker died ----------------------------------------------------------------
async def test_a_call_is_refused_while_its_worker_lives_and_resumed_once_it_died(
    embedded_redis: EmbeddedRedis, redis: Redis
) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), embedded_redis.url, "c-1", "worker-a", "1.0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    first_worker: list[dict[str, Any]] = []
    try:
        first_worker += await _events_until_first_answer(child)
        fakes = Fakes(["Can I change the address?"], ["Yes, tell me the new one."])
        log, calls = EventLog(), ActiveCalls()
        sessions = launcher(fakes, redis, log, calls, "worker-b", lease_s=1.0)
        await wait_until(lambda: _stored(sessions, "c-1", lambda s: len(s.history) == 3))

        # While worker-a lives it holds the call (renewing its 1 s lease): worker-b is refused.
        await asyncio.sleep(1.2)
        with pytest.raises(CallOwnedElsewhereError, match="'c-1' is being driven by worker 'worker-a'"):
            await sessions.run("c-1", FakeChannel(fakes.clock), channel_name="test")
        assert log.events == [] and "c-1" not in calls and fakes.spoken() == []

        child.send_signal(signal.SIGKILL)
        await child.wait()
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.stdout is not None
    first_worker += [json.loads(line) for line in (await child.stdout.read()).splitlines()]

    await wait_until(lambda: _lease_lapsed(sessions), within=3, what="worker-a's lease to lapse")
    saved = await sessions.store.load("c-1")
    assert saved is not None and saved.worker == "worker-a"
    channel = FakeChannel(fakes.clock)
    call = asyncio.create_task(sessions.run("c-1", channel, channel_name="test"))
    await silent_until(channel, lambda: len(log.replies()) == 1)
    await one_turn(channel, log, "c-1")
    channel.leave()
    await asyncio.wait_for(call, 5)

    started = log.events[0]
    assert isinstance(started, CallStarted) and started.resumed and started.worker == "worker-b"
    assert fakes.spoken()[0] == RESUME_GREETING
    assert started.seq == saved.seq + RESUME_SEQ_GAP + 1
    assert started.seq > max(e["seq"] for e in first_worker), "numbered above what worker-a emitted"
    earlier = [("assistant", GREETING), ("user", "Where is my order?"), ("assistant", "It ships tomorrow.")]
    asked = [(m.role, m.content) for m in fakes.model.requests[0].messages]
    assert asked[1:] == [*earlier, ("assistant", RESUME_GREETING), ("user", "Can I change the address?")]
    stored = await sessions.store.load("c-1")
    assert stored is not None and stored.worker == "worker-b" and stored.turn == 2
    assert conversation(stored)[-1] == ("assistant", "Yes, tell me the new one.")
    assert await sessions.store.owner("c-1") is None


async def _events_until_first_answer(child: asyncio.subprocess.Process) -> list[dict[str, Any]]:
    assert child.stdout is not None and child.stderr is not None
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(15):
        while not any(e["type"] == "agent_response_generated" and e["turn"] == 1 for e in events):
            line = await child.stdout.readline()
            if not line:
                raise AssertionError(f"worker-a exited: {(await child.stderr.read()).decode()[-2000:]}")
            events.append(json.loads(line))
    return events


async def _lease_lapsed(sessions: SessionLauncher) -> bool:
    return await sessions.store.owner("c-1") is None


# -- draining ----------------------------------------------------------------------------------
async def test_draining_ends_each_call_with_the_farewell(make_config: MakeConfig) -> None:
    fakes = Fakes()
    host = PluginHost()
    host.register("speech", FakeSpeechPlugin(fakes))
    toml = (
        f'[session]\ngreeting = "{GREETING}"\nfarewell = "{FAREWELL}"\n'
        "idle_reprompt_s = 300.0\nidle_hangup_s = 600.0\n"
    )
    runtime = Runtime(make_config(toml), host=host, load_entry_points=False)
    ids = ["c-1", "c-2"]
    async with runtime.running():
        channels = {call_id: FakeChannel(fakes.clock) for call_id in ids}
        runs = [asyncio.create_task(runtime.sessions.run(c, channels[c], channel_name="test")) for c in ids]
        callers = [asyncio.create_task(stay_silent(channel)) for channel in channels.values()]
        for call_id in ids:  # both greetings said (and saved)
            await wait_until(lambda c=call_id: _stored(runtime.sessions, c, lambda s: len(s.history) == 1))
        assert len(runtime.calls) == 2

        assert await runtime.calls.drain(0.05) == 2
        assert len(runtime.calls) == 0 and all(run.done() for run in runs)
        with pytest.raises(DrainingError):
            await runtime.sessions.run("c-3", FakeChannel(fakes.clock), channel_name="test")
        await asyncio.gather(*runs, *callers)
        assert await runtime.outbox.flush()
        entries = await runtime.redis.xrange(runtime.config.bus.stream)
        events = [json.loads(fields[b"event"]) for _, fields in entries]
        states = {c: await runtime.sessions.store.load(c) for c in ids}
        owners = {c: await runtime.sessions.store.owner(c) for c in ids}

    assert {channel.hangup_reason for channel in channels.values()} == {"worker_shutdown"}
    assert fakes.spoken().count(FAREWELL) == 2
    for call_id in ids:
        mine = [e for e in events if e["call_id"] == call_id]
        replies = [e["text"] for e in mine if e["type"] == AgentResponseGenerated.type_tag()]
        assert replies == [GREETING, FAREWELL]
        assert mine[-1]["type"] == "call_ended" and mine[-1]["reason"] == "worker_shutdown"
        state = states[call_id]
        assert state is not None and conversation(state)[-1] == ("assistant", FAREWELL)
        assert state.seq == mine[-1]["seq"], "the last state is saved"
        assert owners[call_id] is None
    assert "c-3" not in {e["call_id"] for e in events}
