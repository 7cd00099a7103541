"""The agents layer from outside: a plugin's agents found through its entry point, `artagent
agents`, `artagent chat` as a scripted text conversation (real subprocess, real embedded Redis),
bad definitions stopping the start-up, and GET/PUT /api/v1/agents."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _agents_kit import KIT, PLUGIN_SOURCE
from artagent.agents.chat import TextChannel, text_speech
from artagent.app import create_app
from artagent.config import LoadedConfig
from artagent.providers import AudioChunk, VoiceSpec
from artagent.runtime import Runtime
from artagent.session.modes import CallSession
from test_app import serving

ARTAGENT = Path(sys.executable).parent / "artagent"
HERE = Path(__file__).parent
MakeConfig = Callable[..., LoadedConfig]
ONLY_ACME = 'disable_plugins = ["insurance"]\n'
"""The installed verticals stay out of these tests' way: the Acme kit is the only scenario."""


@pytest.fixture
def acme(fake_distribution: Callable[..., Path], data_dir: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A pip-installed-looking plugin shipping the Acme agents, and a runtime.toml using it."""
    site = fake_distribution("acme-agents", {"acme": "acme_agents"}, {"acme_agents": PLUGIN_SOURCE})
    config = data_dir / "runtime.toml"
    config.write_text(f'[runtime]\ndata_dir = "{data_dir}"\n{ONLY_ACME}[agents]\nrouters = ["scripted"]\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(HERE)]))
    sys.path[:0] = [str(site), str(HERE)]
    yield config, env
    for path in (str(site), str(HERE)):
        sys.path.remove(path)


def artagent(
    *args: str, env: dict[str, str], stdin: str = "", timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ARTAGENT), *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_agents_lists_the_plugins_agents_and_scenarios(acme: tuple[Path, dict[str, str]]) -> None:
    config, env = acme
    result = artagent("agents", "--config", str(config), "--json", env=env)
    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)
    assert [s["name"] for s in described["scenarios"]] == ["acme"]
    reception = next(a for a in described["agents"] if a["name"] == "reception")
    assert reception["plugin"] == "acme" and reception["router_now"] == "scripted"
    assert {t["name"] for t in described["tools"]} == {"look_up", "call_human", "end_call"}  # end_call: core
    text = artagent("agents", "--config", str(config), env=env)
    assert "scenario acme (acme): start reception" in text.stdout
    assert "reception -> support (discrete, reset)" in text.stdout


def test_chat_runs_a_scripted_conversation_through_the_agents(acme: tuple[Path, dict[str, str]]) -> None:
    config, env = acme
    lines = "Hello there\nI have a question about my bill\nThanks\n/quit\nnever read\n"
    result = artagent("chat", "--config", str(config), "--scenario", "acme", stdin=lines, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "[reception] Welcome to Acme. How can I help?",
        "> Hello there",
        "[reception] You said: Hello there",
        "> I have a question about my bill",
        '-- tool handoff_to_billing {"reason":"billing"}',
        "-- handoff reception -> billing (announced)",
        '-- tool handoff_to_billing ok: {"handed_off_to":"billing"}',
        "[billing] Hi, billing here. billing here, done.",
        "> Thanks",
        "[billing] You said: Thanks",
        "-- call ended: caller_hangup",
    ]


def test_chat_json_prints_every_event_and_an_escalation_ends_the_text_call(
    acme: tuple[Path, dict[str, str]],
) -> None:
    config, env = acme
    result = artagent(
        "chat", "--config", str(config), "--json", stdin="A person please\nstill here?\n", env=env
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[0] == "call_started" and types[-1] == "call_ended"
    assert "escalation_requested" in types
    assert events[-1]["reason"] == "escalated"
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    typed = [e for e in events if e["type"] == "transcription_received"]
    assert [(e["text"], e["source"]) for e in typed] == [("A person please", "text")]  # the call was over


def test_chat_with_an_unknown_scenario_says_which_exist(acme: tuple[Path, dict[str, str]]) -> None:
    config, env = acme
    result = artagent("chat", "--config", str(config), "--scenario", "sales", env=env)
    assert result.returncode == 2
    assert "error: no scenario named 'sales' (scenarios: acme)" in result.stderr


SCENARIO = "name: acme\nstart: reception\nagents: [reception, billing, support]\n"


@pytest.mark.parametrize(
    ("relative", "text", "expected"),
    [
        (
            "agents/support.yaml",
            "name: support\nhandoffs: [{to: sales}]\n",
            "handoffs[0].to: unknown agent 'sales'",
        ),
        (
            "scenarios/acme.yaml",
            SCENARIO + "handoffs: [{from: reception, to: sales}]\n",
            "handoffs[0].to: unknown agent 'sales'",
        ),
        (
            "scenarios/acme.yaml",
            SCENARIO + "handoffs: [{from: reception, to: billing, context: everything}]\n",
            "handoffs[0].context: Invalid enum value 'everything'",
        ),
    ],
)
def test_a_malformed_definition_stops_the_start_up_naming_file_and_key(
    fake_distribution: Callable[..., Path],
    data_dir: Path,
    tmp_path: Path,
    relative: str,
    text: str,
    expected: str,
) -> None:
    kit = tmp_path / "kit"
    shutil.copytree(KIT, kit)
    (kit / relative).write_text(text)
    source = PLUGIN_SOURCE.replace("return [kit.KIT]", f"return [__import__('pathlib').Path({str(kit)!r})]")
    site = fake_distribution("acme-agents", {"acme": "acme_agents"}, {"acme_agents": source})
    config = data_dir / "runtime.toml"
    config.write_text(f'[runtime]\ndata_dir = "{data_dir}"\n{ONLY_ACME}')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(HERE)]))
    for command in (["agents"], ["config", "check"], ["serve"]):
        args = (
            [*command, str(config)] if command == ["config", "check"] else [*command, "--config", str(config)]
        )
        result = artagent(*args, env=env, timeout=60)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "agent definitions: invalid" in result.stderr
        assert f"{kit}/{relative}: {expected}" in result.stderr
        assert "Traceback" not in result.stderr


# -- HTTP --------------------------------------------------------------------------------------
async def test_the_agents_api_lists_and_changes_agents(
    acme: tuple[Path, dict[str, str]], make_config: MakeConfig
) -> None:
    loaded = make_config(
        f'[runtime]\n{ONLY_ACME}[agents]\nrouters = ["scripted"]\nadmin_token_env = "AA_ADMIN"\n',
        {"AA_ADMIN": "s3cret"},
    )
    runtime = Runtime(loaded)
    async with serving(create_app(runtime)) as http:
        listed = (await http.get("/api/v1/agents")).json()
        assert [a["name"] for a in listed["agents"]] == ["billing", "reception", "support"]
        assert (await http.get("/api/v1/agents/nobody")).status_code == 404
        change: dict[str, Any] = {
            "model": {"router": "scripted", "temperature": 0.7},
            "voice": {"name": "zoe"},
        }
        assert (await http.put("/api/v1/agents/billing", json=change)).status_code == 401
        wrong = await http.put(
            "/api/v1/agents/billing", json=change, headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        changed = await http.put("/api/v1/agents/billing", json=change, headers=auth)
        assert changed.status_code == 200, changed.text
        assert changed.json()["model"]["temperature"] == 0.7 and changed.json()["voice"]["name"] == "zoe"
        assert runtime.agents.catalog.agent("billing").definition.voice.name == "zoe"  # type: ignore[union-attr]
        # The next call uses them: billing greets in the new voice, its model gets the new settings.
        voice = VoiceLog()
        await text_call(runtime, ["I have a question about my bill"], tts=voice)
        assert ("Hi, billing here.", "zoe") in voice.said
        assert ("Welcome to Acme.", "ava") in voice.said  # reception is unchanged
        model = runtime.agents.routing.instance("scripted")
        asked = [(r.context.agent, r.temperature) for r in model.requests]
        assert asked == [("reception", 0.2), ("billing", 0.7)]
        bad = await http.put("/api/v1/agents/billing", json={"model": {"router": "gpt9"}}, headers=auth)
        assert bad.status_code == 400 and "model.router: no model router named 'gpt9'" in bad.text
        typo = await http.put("/api/v1/agents/billing", json={"modle": {}}, headers=auth)
        assert typo.status_code == 400 and "modle" in typo.text


class VoiceLog:
    """A voice that says nothing and notes what it was asked to say, and in which voice."""

    def __init__(self) -> None:
        self.said: list[tuple[str, str | None]] = []

    async def synthesize(self, text: str, *, voice: VoiceSpec | None = None) -> AsyncIterator[AudioChunk]:
        self.said.append((text, voice.name if voice else None))
        return
        yield AudioChunk(b"", 16_000)


async def text_call(runtime: Runtime, lines: list[str], *, tts: Any) -> None:
    """One call of the acme scenario on the running runtime, typed rather than spoken."""
    channel = TextChannel()
    started: asyncio.Future[CallSession] = asyncio.get_running_loop().create_future()
    call = asyncio.create_task(
        runtime.sessions.run(
            f"call-{len(lines)}",
            channel,
            channel_name="cli",
            scenario="acme",
            speech={**text_speech(), "tts": tts},
            on_start=started.set_result,
        )
    )
    session = await started
    await session.until_quiet()
    for line in lines:
        await session.submit_text(line)
        await session.until_quiet()
    await channel.hangup("caller_hangup")
    await call


def test_routing_per_agent_in_runtime_toml_is_shown_and_checked_at_start_up(
    acme: tuple[Path, dict[str, str]],
) -> None:
    config, env = acme
    text = config.read_text()
    config.write_text(text + '[agents.routing]\nbilling = ["flows", "scripted"]\n')
    described = json.loads(artagent("agents", "--config", str(config), "--json", env=env).stdout)
    routers = {a["name"]: a["router_now"] for a in described["agents"]}
    assert routers == {"billing": "flows", "reception": "scripted", "support": "scripted"}
    config.write_text(text + '[agents.routing]\nbilling = ["scripted", "gpt9"]\nsales = ["flows"]\n')
    for command in (["agents", "--config", str(config)], ["config", "check", str(config)]):
        result = artagent(*command, env=env)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "agents.routing.billing[1]: no model router named 'gpt9' is installed" in result.stderr
        assert "agents.routing.sales: no agent named 'sales' (agents: billing, reception, support)" in (
            result.stderr
        )


async def test_changing_agents_needs_an_admin_token_configured(
    acme: tuple[Path, dict[str, str]], make_config: MakeConfig
) -> None:
    runtime = Runtime(make_config(f'[runtime]\n{ONLY_ACME}[agents]\nrouters = ["scripted"]\n'))
    async with serving(create_app(runtime)) as http:
        refused = await http.put("/api/v1/agents/billing", json={"voice": {"name": "x"}})
        assert refused.status_code == 403 and "admin_token_env is not set" in refused.text


COMMAND_PLUGIN = """
from artagent.commands import Command
from artagent.hookspecs import hookimpl

def configure(parser):
    parser.add_argument("word")

def run(loaded, args):
    print(f"{args.word} from {loaded.source}")
    return 3

@hookimpl
def register_commands():
    return [Command("shout", "say a word", configure, run), Command("chat", "a clash", configure, run)]
"""


def test_a_plugin_adds_its_own_command(fake_distribution: Callable[..., Path], data_dir: Path) -> None:
    site = fake_distribution("shouter", {"shouter": "shouter"}, {"shouter": COMMAND_PLUGIN})
    config = data_dir / "runtime.toml"
    config.write_text(f'[runtime]\ndata_dir = "{data_dir}"\n')
    env = dict(os.environ, PYTHONPATH=str(site))
    result = artagent("shout", "hello", "--config", str(config), env=env)
    assert (result.returncode, result.stdout.strip()) == (3, f"hello from {config}")
    assert "shout" in artagent("--help", env=env).stdout
    # A plugin cannot take over a core command: `chat` is still core's.
    clash = artagent("chat", "--help", env=env)
    assert "--scenario" in clash.stdout
