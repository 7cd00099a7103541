"""The ``artagent`` command: serve, plugins, config check, events tail/publish, speech
say/transcribe, agents, chat, calls, and the plugins' own commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from artagent.agents.catalog import CatalogError
from artagent.config import ConfigError, LoadedConfig, load_config
from artagent.events import DuplicateEventTypeError
from artagent.plugins import PluginLoadError

__all__ = ["main"]

DEFAULT_CONFIG = "runtime.toml"


def _config_path(arg: str | None) -> Path | None:
    """``--config`` if given, else ./runtime.toml when present, else the built-in defaults."""
    if arg:
        return Path(arg)
    default = Path(DEFAULT_CONFIG)
    return default if default.exists() else None


def _load(arg: str | None) -> LoadedConfig:
    return load_config(_config_path(arg))


def _print_config_error(exc: ConfigError) -> None:
    print(f"{exc.source or 'configuration'}: invalid", file=sys.stderr)
    for issue in exc.issues:
        print(f"  {issue}", file=sys.stderr)


def _setup_logging(loaded: LoadedConfig, level: str | None = None) -> None:
    """``[observability]`` logging (format, levels, transcripts); ``level``: a command's own
    root level instead of ``log_level`` (a terminal command wants warnings only)."""
    from artagent.observability.logs import configure_logging

    cfg = loaded.config.observability
    configure_logging(cfg if level is None else msgspec.structs.replace(cfg, log_level=level))


# -- serve ---------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    loaded = _load(args.config)  # before the heavy imports: a bad file fails fast
    from artagent.server import serve

    _setup_logging(loaded)
    return serve(loaded, host=args.host, port=args.port)


# -- plugins -------------------------------------------------------------------------------
def cmd_plugins(args: argparse.Namespace) -> int:
    from artagent.runtime import Runtime

    runtime = Runtime(_load(args.config))
    host = runtime.plugins
    if args.json:
        doc = {"plugins": list(host.plugins.values()), "failed": host.failures}
        sys.stdout.write(msgspec.json.encode(doc).decode() + "\n")
        return 0
    for info in host.plugins.values():
        print(f"{info.name}  {info.distribution or '-'} {info.version or ''}  ({info.module})")
        for hook, items in info.registered.items():
            print(f"    {hook}: {', '.join(items)}")
    for failure in host.failures:
        print(f"{failure.name}  FAILED: {failure.error}")
    if not host.plugins and not host.failures:
        print("no plugins installed")
    return 0


# -- config check --------------------------------------------------------------------------
def cmd_config_check(args: argparse.Namespace) -> int:
    from artagent.config_check import check_config

    path = _config_path(args.file)
    issues = check_config(path)  # every missing variable and plugin table problem at once
    if issues:
        _print_config_error(ConfigError(issues, str(path) if path else ""))
        return 1
    print(f"{path or '<defaults>'}: OK")
    return 0


# -- speech --------------------------------------------------------------------------------
def cmd_speech(args: argparse.Namespace) -> int:
    from artagent import speech_cli

    loaded = _load(args.config)
    _setup_logging(loaded, "WARNING")
    try:
        if args.action == "say":
            return speech_cli.say(loaded, args.text, Path(args.out), args.voice)
        return speech_cli.transcribe(loaded, Path(args.file), args.json)
    except speech_cli.SpeechCliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


# -- events --------------------------------------------------------------------------------
def cmd_events_tail(args: argparse.Namespace) -> int:
    from artagent.bus.console import tail

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(tail(_load(args.config), types=args.type, call=args.call, as_json=args.json))
    return 0


def cmd_events_publish(args: argparse.Namespace) -> int:
    from artagent.bus.console import publish

    return asyncio.run(publish(_load(args.config), sys.stdin))


# -- agents --------------------------------------------------------------------------------
def cmd_agents(args: argparse.Namespace) -> int:
    from artagent.agents.commands import agents_command

    return agents_command(_load(args.config), args)


def cmd_chat(args: argparse.Namespace) -> int:
    from artagent.agents.commands import chat_command

    loaded = _load(args.config)
    _setup_logging(loaded, "ERROR")  # the worker's start-up warnings (no speech installed) do not apply
    return chat_command(loaded, args)


# -- calls ---------------------------------------------------------------------------------
def cmd_calls(args: argparse.Namespace) -> int:
    from artagent.history.console import run

    return run(args, _load(args.config))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="artagent", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", metavar="FILE", help="runtime.toml to use (default: ./runtime.toml)")
        return p

    serve = with_config(sub.add_parser("serve", help="run the HTTP/WebSocket server"))
    serve.add_argument("--host", help="bind address (default: [server] host)")
    serve.add_argument("--port", type=int, help="TCP port (default: [server] port)")
    serve.set_defaults(func=cmd_serve)

    plugins = with_config(sub.add_parser("plugins", help="list installed plugins"))
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.set_defaults(func=cmd_plugins)

    config = sub.add_parser("config", help="configuration tools").add_subparsers(dest="action", required=True)
    check = config.add_parser("check", help="validate a runtime.toml")
    check.add_argument("file", nargs="?", help="the file (default: ./runtime.toml)")
    check.set_defaults(func=cmd_config_check)

    speech_tools = sub.add_parser("speech", help="try the speech providers")
    speech = speech_tools.add_subparsers(dest="action", required=True)
    say = with_config(speech.add_parser("say", help="synthesize TEXT into a WAV file"))
    say.add_argument("text", metavar="TEXT")
    say.add_argument("--out", required=True, metavar="FILE.wav", help="the WAV file to write")
    say.add_argument("--voice", help="a voice name or path the TTS provider knows (default: its own)")
    say.set_defaults(func=cmd_speech)
    hear = with_config(speech.add_parser("transcribe", help="transcribe a WAV file (any sample rate)"))
    hear.add_argument("file", metavar="FILE.wav")
    hear.add_argument("--json", action="store_true", help="one JSON document")
    hear.set_defaults(func=cmd_speech)

    events = sub.add_parser("events", help="the event bus").add_subparsers(dest="action", required=True)
    tail = with_config(events.add_parser("tail", help="follow the bus live until Ctrl-C"))
    tail.add_argument("--type", action="append", help="only this event type (repeatable)")
    tail.add_argument("--call", help="only this call id")
    tail.add_argument("--json", action="store_true", help="one JSON event per line")
    tail.set_defaults(func=cmd_events_tail)
    publish = with_config(events.add_parser("publish", help="publish JSON events read from stdin"))
    publish.set_defaults(func=cmd_events_publish)

    agents = with_config(sub.add_parser("agents", help="list agents, scenarios and tools"))
    agents.add_argument("--json", action="store_true", help="machine-readable output")
    agents.set_defaults(func=cmd_agents)

    chat = with_config(sub.add_parser("chat", help="talk to a scenario in text, one line per turn"))
    chat.add_argument("--scenario", help="the scenario (default: the one [agents] gives the cli channel)")
    chat.add_argument("--json", action="store_true", help="print every event as one JSON line")
    chat.set_defaults(func=cmd_chat)
    calls = with_config(sub.add_parser("calls", help="the call history, newest first"))
    calls.add_argument("--json", action="store_true", help="the page as JSON")
    calls.add_argument("--since", help="calls started since: an ISO 8601 time, or 30m, 2h, 7d ago")
    calls.add_argument("--until", help="calls started before (same forms as --since)")
    calls.add_argument("--outcome", help="only calls that ended with this outcome")
    calls.add_argument("--agent", help="only calls this agent took part in")
    calls.add_argument("--limit", type=int, default=20, help="calls per page (default 20)")
    calls.add_argument("--cursor", help="the next page, as the previous one printed it")
    calls.set_defaults(func=cmd_calls, action="list")
    show = with_config(calls.add_subparsers(dest="action").add_parser("show", help="one call in full"))
    show.add_argument("call_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="the call document as JSON")
    show.set_defaults(func=cmd_calls)
    _plugin_commands(sub, with_config)
    return parser


def _plugin_commands(sub: Any, with_config: Any) -> None:
    """Sub-commands of installed plugins (``register_commands``); a broken plugin is left out
    here and reported by the commands that load plugins."""
    from artagent.commands import Command
    from artagent.plugins import PluginHost

    host = PluginHost()
    host.load_entry_points()
    try:
        commands = host.commands()
    except PluginLoadError as exc:
        logging.getLogger(__name__).warning("%s", exc)
        return
    for owner, command in commands:
        if not isinstance(command, Command) or command.name in sub.choices:
            logging.getLogger(__name__).warning("plugin %s: command %r not added", owner, command)
            continue
        parser = with_config(sub.add_parser(command.name, help=f"{command.help} (plugin {owner})"))
        command.configure(parser)
        parser.set_defaults(func=lambda args, run=command.run: run(_load(args.config), args))


def main(argv: Sequence[str] | None = None) -> int:
    args: Any = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        _print_config_error(exc)
        return 1
    except (PluginLoadError, DuplicateEventTypeError) as exc:
        print(f"plugin error: {exc}", file=sys.stderr)
        return 1
    except CatalogError as exc:
        print("agent definitions: invalid", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        from artagent.bus.redis import EmbeddedRedisError

        if not isinstance(exc, EmbeddedRedisError):
            raise
        print(f"error: {exc}", file=sys.stderr)  # raised while building the runtime: data_dir
        return 1
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
