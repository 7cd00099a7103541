"""``artagent call``: a simulated phone call against a running server.

    artagent call [--url URL] [--to NUMBER] [--from NUMBER]
                  [--wav FILE | --say TEXT ... | --script FILE]   (default: lines typed on stdin)
                  [--interrupt] [--json] [--save DIR] [--token-env VAR]

Utterances (``--say``, ``--script``, typed lines) are spoken with the ``[session] tts`` voice
of this configuration, so a speech plugin must be installed here as on the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from artagent.commands import Command
from artagent.config import LoadedConfig

__all__ = ["call_command"]


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the server (default: [server] host and port of the configuration)")
    parser.add_argument(
        "--to", dest="callee", help="the number called (chooses the scenario by [agents.numbers])"
    )
    parser.add_argument("--from", dest="caller", default="+15550100001", help="the caller's number")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--wav", type=Path, help="caller audio: a 16-bit PCM WAV file, streamed as it is")
    source.add_argument("--say", action="append", metavar="TEXT", help="an utterance (repeat for several)")
    source.add_argument("--script", type=Path, help="a file of utterances, one per line")
    parser.add_argument("--interrupt", action="store_true", help="speak as soon as the agent starts talking")
    parser.add_argument("--json", action="store_true", help="print the call's events as JSON lines")
    parser.add_argument("--save", type=Path, metavar="DIR", help="write caller.wav and agent.wav there")
    parser.add_argument("--token-env", help="environment variable holding the control token "
                        "(default: [plugins.acs] control_token_env)")  # fmt: skip
    parser.add_argument("--max-wait", type=float, default=60.0, help="longest wait for the agent, in seconds")


def _url(loaded: LoadedConfig, given: str | None) -> str:
    if given:
        return given.rstrip("/")
    server = loaded.config.server
    host = "127.0.0.1" if server.host in ("0.0.0.0", "::", "") else server.host
    return f"http://{host}:{server.port}"


def _token(loaded: LoadedConfig, args: argparse.Namespace) -> str | None:
    name = args.token_env or (loaded.config.plugins.get("acs") or {}).get("control_token_env")
    return os.environ.get(name) if name else None


def _voice(runtime: Any) -> Any:
    from artagent_acs.simulator.audio import CallerAudioError

    name = runtime.sessions.names.get("tts")
    if name is None:
        why = runtime.sessions.missing.get("tts", "no tts provider is chosen")
        raise CallerAudioError(
            f"cannot speak the caller's words: {why}. Install a speech plugin (artagent-local-speech) "
            "or give the caller's audio with --wav FILE"
        )
    return runtime.providers.create("tts", name)


def _utterances(
    runtime: Any, args: argparse.Namespace
) -> Callable[[], AsyncIterator[Callable[[int], Awaitable[bytes]]]]:
    from artagent_acs.simulator.audio import CallerAudioError, read_wav, synthesize
    from artagent_acs.simulator.phone import typed_lines

    if args.wav is not None:
        wav: Path = args.wav

        async def from_wav() -> AsyncIterator[Callable[[int], Awaitable[bytes]]]:
            async def make(rate: int) -> bytes:
                return read_wav(wav, rate)

            yield make

        return from_wav
    tts = _voice(runtime)
    if args.script is not None:
        try:
            lines = [line.strip() for line in args.script.read_text().splitlines() if line.strip()]
        except OSError as exc:
            raise CallerAudioError(f"{args.script}: {exc}") from None
    else:
        lines = args.say

    def speak(text: str) -> Callable[[int], Awaitable[bytes]]:
        async def make(rate: int) -> bytes:
            return await synthesize(tts, text, rate)

        return make

    async def spoken() -> AsyncIterator[Callable[[int], Awaitable[bytes]]]:
        source = _aiter(lines) if lines is not None else typed_lines(sys.stdin)
        async for text in source:
            yield speak(text)

    return spoken


async def _aiter(items: list[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


def _run(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from artagent.runtime import Runtime

    from artagent_acs.simulator.audio import CallerAudioError
    from artagent_acs.simulator.phone import CallOptions, SimulatorError, place_call

    runtime = Runtime(loaded)
    options = CallOptions(
        url=_url(loaded, args.url),
        caller=args.caller,
        callee=args.callee,
        interrupt=args.interrupt,
        as_json=args.json,
        save=args.save,
        token=_token(loaded, args),
        max_wait_s=args.max_wait,
    )
    try:
        utterances = _utterances(runtime, args)
        return asyncio.run(place_call(options, runtime.catalogue, utterances))
    except (CallerAudioError, SimulatorError) as exc:
        print(f"artagent call: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def call_command() -> Command:
    return Command(
        name="call",
        help="a simulated phone call to a running server over the ACS media protocol",
        configure=_configure,
        run=_run,
    )
