"""Shared by the voicelive tests: a runtime whose calls run in the voicelive mode against the
fake realtime service, a scripted caller, and the call's events as they were published."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from artagent.config import LoadedConfig, parse_config
from artagent.events import AgentResponseGenerated, Event
from artagent.hookspecs import hookimpl
from artagent.plugins import PluginHost
from artagent.providers import ProviderSpec
from artagent.runtime import Runtime
from artagent.session.playout import LoopClock
from artagent.testing import FakeChannel, FakeTTS

KEY = "test-key"


def config(
    data_dir: Path,
    url: str,
    *,
    table: str = "",
    session: str = 'mode = "voicelive"',
    kind: str = "azure-voice-live",
    key: bool = True,
    idle_s: tuple[float, float] = (300.0, 600.0),
    local_speech: bool = False,
) -> LoadedConfig:
    """runtime.toml for calls in the voicelive mode against ``url``; ``idle_s``: the reprompt and
    the hang-up after silence (by default, never within a test). The local speech plugin is
    left out unless ``local_speech`` (its models would warm up beside every test call)."""
    sign_in = 'api_key_env = "VOICELIVE_TEST_KEY"' if key else ""
    disabled = "" if local_speech else '"local_speech"'
    text = f"""
[runtime]
data_dir = "{data_dir}"
disable_plugins = [{disabled}]
[session]
idle_reprompt_s = {idle_s[0]}
idle_hangup_s = {idle_s[1]}
{session}
[agents]
timezone = "America/Los_Angeles"
[plugins.voicelive]
kind = "{kind}"
endpoint = "{url}"
model = "gpt-realtime"
{sign_in}
{table}
[plugins.voicelive.turn_detection]
silence_duration_ms = 200
"""
    return parse_config(text, base_dir=data_dir, source="test.toml", environ={"VOICELIVE_TEST_KEY": KEY})


class TransferChannel(FakeChannel):
    """A channel that hands the call to a human, as ACS does."""

    def __init__(self) -> None:
        super().__init__(LoopClock())
        self.transfers: list[tuple[str | None, str]] = []

    async def transfer(self, target: str | None, reason: str) -> bool:
        self.transfers.append((target, reason))
        self.leave()  # the call is the human's now: our media stream ends
        return True


class LocalVoice:
    """A plugin offering the test kit's FakeTTS as ``[session] tts`` (the voice of last resort)."""

    def __init__(self, tts: FakeTTS) -> None:
        self.tts = tts

    @hookimpl
    def register_providers(self) -> list[ProviderSpec]:
        return [ProviderSpec("tts", "local", lambda settings: self.tts)]


def local_tts() -> FakeTTS:
    return FakeTTS(LoopClock(), seconds_per_char=0.004, first_audio_latency_s=0.01)


def runtime(loaded: LoadedConfig, *, tts: FakeTTS | None = None) -> Runtime:
    """The installed plugins (voicelive, insurance, flows...; not those the configuration
    disables) plus, when given, a TTS of the test kit as the voice of last resort."""
    host = PluginHost(disabled=loaded.config.runtime.disable_plugins)
    host.load_entry_points()
    if tts is not None:
        host.register("local_voice", LocalVoice(tts))
    return Runtime(loaded, host=host, load_entry_points=False)


class Call:
    """One call through ``runtime.sessions`` on a scripted channel, its events seen live."""

    def __init__(
        self, runtime: Runtime, call_id: str = "call-1", *, channel: FakeChannel | None = None, **run: Any
    ) -> None:
        self.channel = channel or FakeChannel(LoopClock())
        self.events: list[Event] = []
        self.task = asyncio.create_task(
            runtime.sessions.run(
                call_id, self.channel, channel_name="test", observer=self.events.append, **run
            )
        )

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def types(self) -> list[str]:
        return [e.type_tag() for e in self.events]

    @property
    def replies(self) -> list[AgentResponseGenerated]:
        return self.of(AgentResponseGenerated)

    async def until(self, done: Callable[[], Any], *, within: float = 10.0, what: str = "the agent") -> None:
        """The caller stays silent (a frame every 20 ms, as a phone sends) until ``done()``."""
        deadline = time.monotonic() + within
        while not done():
            if self.task.done():
                raise AssertionError(f"the call ended while waiting for {what}: {self.types()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {within}s waiting for {what}: {self.types()}")
            await self.channel.silence(0.02)

    async def answered(self, replies: int, **kw: Any) -> None:
        await self.until(lambda: len(self.replies) >= replies, what=f"{replies} replies", **kw)

    async def turn(self, seconds: float = 0.4) -> AgentResponseGenerated:
        """The caller speaks, then waits in silence until the agent's answer has been heard."""
        before = len(self.replies)
        await self.channel.say(seconds)
        await self.answered(before + 1)
        return self.replies[-1]

    async def hang_up(self, timeout: float = 10.0) -> Any:
        self.channel.leave()
        return await asyncio.wait_for(self.task, timeout)

    async def ended(self, timeout: float = 10.0) -> Any:
        """The agent hangs up: the caller stays on the line (silent) until the call is over."""
        deadline = time.monotonic() + timeout
        while not self.task.done() and self.channel.hangup_reason is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the call did not end: {self.types()}")
            await self.channel.silence(0.02)
        return await asyncio.wait_for(self.task, timeout)
