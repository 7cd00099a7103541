"""``artagent agents`` and ``artagent chat``: the agents layer from the terminal."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import msgspec

from artagent.config import LoadedConfig

__all__ = ["agents_command", "chat_command"]


def agents_command(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    """List agents and scenarios with their tools, handoffs and the router answering each."""
    from artagent.agents.api import describe
    from artagent.runtime import Runtime

    described = describe(Runtime(loaded).agents)
    if args.json:
        sys.stdout.write(msgspec.json.encode(described).decode() + "\n")
        return 0
    _print_agents(described)
    return 0


def _print_agents(described: dict[str, Any]) -> None:
    if not described["agents"]:
        print("no agents installed (install a vertical such as artagent-insurance)")
    for scenario in described["scenarios"]:
        edges = ", ".join(
            f"{e['from'] or '*'} -> {e['to']} ({e['type']}, {e['context']})" for e in scenario["handoffs"]
        )
        print(
            f"scenario {scenario['name']} ({scenario['plugin']}): start {scenario['start']}; "
            f"agents {', '.join(scenario['agents'])}"
        )
        if edges:
            print(f"    handoffs: {edges}")
    for agent in described["agents"]:
        print(f"agent {agent['name']} ({agent['plugin']}): {agent['description']}")
        print(f"    model: {agent['router_now']}")
        if agent["tools"]:
            print(f"    tools: {', '.join(agent['tools'])}")
        if agent["handoffs"]:
            print(f"    handoffs: {', '.join(agent['handoffs'])}")
        if agent["form"]:
            print(f"    form: {', '.join(agent['form'])}")


def chat_command(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from artagent.agents.chat import chat
    from artagent.agents.selection import UnknownScenarioError
    from artagent.session.launcher import SessionUnavailableError

    try:
        return asyncio.run(chat(loaded, scenario=args.scenario, as_json=args.json))
    except (UnknownScenarioError, SessionUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
