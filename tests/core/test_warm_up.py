"""Providers that need a warm-up keep the worker not-ready until it is over; the embedded default
of a kind is chosen when ``[session]`` names none and several are installed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from _agents_kit import KIT, call_human, look_up
from artagent.app import create_app
from artagent.config import ConfigError, LoadedConfig, SessionConfig
from artagent.hookspecs import hookimpl
from artagent.plugins import PluginHost
from artagent.providers import ProviderRegistry, ProviderSpec
from artagent.runtime import Runtime
from artagent.session.launcher import resolve_providers
from artagent.session.playout import LoopClock
from artagent.testing import FakeModel, FakeSTT, FakeTTS
from test_app import serving

MakeConfig = Callable[..., LoadedConfig]


class SlowTTS(FakeTTS):
    """A TTS whose warm-up (a model loading) lasts until the test says, or fails."""

    def __init__(self, error: Exception | None = None) -> None:
        super().__init__(LoopClock())
        self.error = error
        self.warmed = 0
        self.gate: asyncio.Event | None = None

    async def warm_up(self) -> None:
        self.gate = self.gate or asyncio.Event()
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        self.warmed += 1


class SlowSpeech:
    def __init__(self, tts: SlowTTS) -> None:
        self.tts = tts

    @hookimpl
    def register_providers(self) -> list[ProviderSpec]:
        return [
            ProviderSpec("tts", "slow", lambda settings: self.tts),
            ProviderSpec("stt", "quick", lambda settings: FakeSTT(LoopClock())),  # nothing to warm up
        ]


def runtime_with(make_config: MakeConfig, tts: SlowTTS, session: str = 'tts = "slow"') -> Runtime:
    host = PluginHost()
    host.register("slow", SlowSpeech(tts))
    return Runtime(make_config(f"[session]\n{session}\n"), host=host, load_entry_points=False)


async def readiness(http: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await http.get("/readiness")
    return response.status_code, response.json()


async def started(tts: SlowTTS) -> None:
    async with asyncio.timeout(10):
        while tts.gate is None:  # noqa: ASYNC110 (polling a flag)
            await asyncio.sleep(0.01)


async def test_readiness_says_503_while_the_selected_providers_warm_up(make_config: MakeConfig) -> None:
    tts = SlowTTS()
    runtime = runtime_with(make_config, tts)
    assert runtime.checks["providers"] == "not warmed up yet"
    async with serving(create_app(runtime)) as http:
        await started(tts)
        status, body = await readiness(http)
        assert status == 503
        assert body["not_ready"] == ["providers"]
        assert body["checks"]["providers"] == "warming up tts:slow"
        assert (await http.get("/health")).status_code == 200  # alive all along
        assert tts.gate is not None
        tts.gate.set()
        assert await runtime.warmed_up()
        status, body = await readiness(http)
        assert (status, body["checks"]["providers"]) == (200, "ok")
    assert tts.warmed == 1


async def test_a_failed_warm_up_keeps_the_worker_not_ready_and_names_the_provider(
    make_config: MakeConfig,
) -> None:
    tts = SlowTTS(RuntimeError("voice file is corrupt"))
    runtime = runtime_with(make_config, tts)
    async with serving(create_app(runtime)) as http:
        await started(tts)
        assert tts.gate is not None
        tts.gate.set()
        assert not await runtime.warmed_up()
        status, body = await readiness(http)
    assert status == 503
    assert body["checks"]["providers"] == "warm-up failed: tts:slow: RuntimeError: voice file is corrupt"


async def test_stopping_during_the_warm_up_cancels_it(make_config: MakeConfig) -> None:
    tts = SlowTTS()
    runtime = runtime_with(make_config, tts)
    await runtime.start()
    await started(tts)
    async with asyncio.timeout(10):
        await runtime.stop()
    assert tts.warmed == 0 and runtime.checks["providers"] != "ok"


def test_no_check_when_no_selected_provider_warms_up(make_config: MakeConfig) -> None:
    host = PluginHost()
    host.register("quick", _QuickOnly())
    quiet = Runtime(make_config(), host=host, load_entry_points=False)
    assert "providers" not in quiet.checks
    assert quiet.sessions.warming_up() == []


class _QuickOnly:
    @hookimpl
    def register_providers(self) -> list[ProviderSpec]:
        return [ProviderSpec("stt", "quick", lambda settings: FakeSTT(LoopClock()))]


# -- the embedded default of a kind ----------------------------------------------------------
def _registry(*specs: ProviderSpec) -> ProviderRegistry:
    registry = ProviderRegistry()
    registry.extend(("plugin", spec) for spec in specs)
    return registry


def _stt(name: str, *, default: bool = False) -> ProviderSpec:
    def build(settings: Mapping[str, Any]) -> FakeSTT:
        return FakeSTT(LoopClock())

    return ProviderSpec("stt", name, build, default=default)


def test_an_empty_name_picks_the_one_default_among_several() -> None:
    registry = _registry(_stt("azure"), _stt("whisper", default=True))
    chosen, _ = resolve_providers(SessionConfig(stt="", turn_detector=""), registry)
    assert chosen["stt"] == "whisper"
    chosen, _ = resolve_providers(
        SessionConfig(stt="azure", turn_detector=""), registry
    )  # a name always wins
    assert chosen["stt"] == "azure"


@pytest.mark.parametrize("defaults", [(), ("a", "b")])
def test_several_without_a_single_default_is_an_error_naming_the_key(defaults: tuple[str, ...]) -> None:
    registry = _registry(*(_stt(name, default=name in defaults) for name in ("a", "b")))
    with pytest.raises(ConfigError) as caught:
        resolve_providers(SessionConfig(stt="", turn_detector=""), registry)
    assert str(caught.value.issues[0]) == "session.stt: several stt providers installed (a, b): name one"


# -- the agents' model routers -----------------------------------------------------------------
class SlowRouter(FakeModel):
    """A model router whose warm-up (loading what its first turn would load) the test holds."""

    def __init__(self, gate: asyncio.Event) -> None:
        super().__init__(LoopClock(), [])
        self.warmed = 0
        self.gate = gate

    async def warm_up(self) -> None:
        await self.gate.wait()
        self.warmed += 1


class RouterPlugin:
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.built: list[SlowRouter] = []

    def build(self, settings: Any) -> SlowRouter:
        self.built.append(SlowRouter(self.gate))
        return self.built[-1]

    @hookimpl
    def register_agents(self, config: Any) -> list[Path]:
        return [KIT]

    @hookimpl
    def register_tools(self, config: Any, secrets: Any) -> list[Any]:
        return [look_up, call_human]

    @hookimpl
    def register_providers(self) -> list[ProviderSpec]:
        return [ProviderSpec("model", "slowrouter", self.build)]


async def test_the_agents_model_router_is_warmed_up_before_the_worker_is_ready(
    make_config: MakeConfig,
) -> None:
    """The router instance answering the agents is not [session]'s model instance: it is warmed
    up too, so its first caller turn does no loading on the event loop every call shares."""
    plugin = RouterPlugin()
    host = PluginHost()
    host.register("routers", plugin)
    config = make_config('[agents]\nscenario = "acme"\nrouters = ["slowrouter"]\n')
    runtime = Runtime(config, host=host, load_entry_points=False)
    assert runtime.checks["providers"] == "not warmed up yet"
    async with serving(create_app(runtime)) as http:
        async with asyncio.timeout(10):
            while (await readiness(http))[1]["checks"]["providers"] == "not warmed up yet":  # noqa: ASYNC110 (polling the HTTP endpoint)
                await asyncio.sleep(0.01)
        status, body = await readiness(http)
        assert (status, body["checks"]["providers"]) == (503, "warming up model:slowrouter")
        plugin.gate.set()
        assert await runtime.warmed_up()
        assert (await readiness(http))[0] == 200
    routing = runtime.agents.routing.instance("slowrouter")
    assert routing in plugin.built and len(plugin.built) == 2  # [session]'s model, the agents' router
    assert [router.warmed for router in plugin.built] == [1, 1]
