"""A running ARTAgent server with the ACS plugin, for tests that call it over real sockets.

The server is the real app under uvicorn on 127.0.0.1 (port 0), in the test's event loop. Its
speech and model are the test kit's fakes on the real clock: the caller's tone is speech (an
energy VAD), the recogniser returns the scripted utterances in order, one per stretch of
speech, and the test desk's model repeats what it heard, reads out a long answer when asked
to "tell me everything", and puts the caller through to a person (a tool that escalates).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import artagent_acs.hooks
import msgspec
import uvicorn
from _fake_acs import KEY, FakeAcs
from artagent.agents.tools import ToolContext, tool
from artagent.app import create_app
from artagent.config import LoadedConfig
from artagent.hookspecs import hookimpl
from artagent.plugins import PluginHost
from artagent.providers import ModelRequest, ProviderSpec, TextDelta, ToolCallRequest
from artagent.runtime import Runtime
from artagent.session.playout import LoopClock
from artagent.testing import FakeSTT, FakeTTS, FakeVAD
from artagent.testing.audio import tone

DESK = Path(__file__).parent / "desk"
LONG_ANSWER = " ".join(["Our opening hours are long and the list of services is longer still."] * 6)
APOLOGY = "Sorry, I could not transfer you right now. Let's carry on."
INCOMING = {
    "id": "ev-1", "eventType": "Microsoft.Communication.IncomingCall", "subject": "call",
    "dataVersion": "1.0", "eventTime": "2026-01-01T10:00:00Z",
    "data": {"to": {"kind": "phoneNumber", "rawId": "4:+18005550100",
                    "phoneNumber": {"value": "+18005550100"}},
             "from": {"kind": "phoneNumber", "rawId": "4:+15550100001",
                      "phoneNumber": {"value": "+15550100001"}},
             "incomingCallContext": "opaque-context-123", "correlationId": "corr-1", "serverCallId": "srv-1"},
}  # fmt: skip
"""An Event Grid delivery of one incoming call (Event Grid schema)."""


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


class Reason(msgspec.Struct):
    reason: str = "the caller asked for a person"


@tool
async def call_human(args: Reason, ctx: ToolContext) -> str:
    """Put the caller through to a human colleague."""
    ctx.escalate(args.reason)
    return "transferring"


class DeskModel:
    async def stream(self, request: ModelRequest) -> AsyncIterator[TextDelta | ToolCallRequest]:
        last = [m for m in request.messages if m.role != "system"][-1]
        if last.role == "tool":
            return
        text = last.content.lower()
        if "everything" in text:
            for word in LONG_ANSWER.split(" "):
                yield TextDelta(word + " ")
        elif "person" in text:
            yield TextDelta("Let me put you through to a colleague.")
            yield ToolCallRequest(id="h1", name="call_human", arguments={})
        else:
            yield TextDelta(f"You said {last.content}.")


class DeskLine:
    """The test plugin: fake speech on the real clock, the desk scenario and its model."""

    def __init__(self, utterances: Sequence[str], *, seconds_per_char: float = 0.03) -> None:
        self.clock = LoopClock()
        self.utterances = list(utterances)
        self.tts = FakeTTS(self.clock, seconds_per_char=seconds_per_char, first_audio_latency_s=0.02)

    @hookimpl
    def register_providers(self) -> list[ProviderSpec]:
        return [
            ProviderSpec("vad", "fake", lambda _: FakeVAD()),
            ProviderSpec(
                "stt",
                "fake",
                lambda _: FakeSTT(self.clock, self.utterances, partial_every=0, final_latency_s=0.05),
            ),
            ProviderSpec("tts", "fake", lambda _: self.tts),
            ProviderSpec("model", "scripted", lambda _: DeskModel()),
        ]

    @hookimpl
    def register_tools(self) -> list[Any]:
        return [call_human]

    @hookimpl
    def register_agents(self) -> list[Path]:
        return [DESK]


def build_runtime(
    make_config: Callable[..., LoadedConfig],
    line: DeskLine,
    toml: str = "",
    environ: dict[str, str] | None = None,
) -> Runtime:
    text = (
        '[session]\ngreeting = "Hello, this is the test desk."\n'
        "idle_reprompt_s = 600.0\nidle_hangup_s = 1200.0\n"
        'model = "scripted"\n[session.turn]\nmin_delay_s = 0.2\nmax_delay_s = 0.4\n'
        '[agents]\nrouters = ["scripted"]\nscenario = "desk"\n'
        '[agents.numbers]\n"+18005550199" = "night"\n' + toml
    )
    host = PluginHost()
    host.register("acs", artagent_acs.hooks)
    host.register("testline", line)
    return Runtime(make_config(text, environ=environ), host=host, load_entry_points=False)


@asynccontextmanager
async def serving(runtime: Runtime) -> AsyncIterator[str]:
    """The app on 127.0.0.1:<free port>; yields its base URL."""
    config = uvicorn.Config(create_app(runtime), host="127.0.0.1", port=0, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the server stopped before it started")
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


class Collected(logging.Handler):
    """The warnings of one logger (the app's logging configuration replaces pytest's handler,
    so ``caplog`` sees nothing)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def collected(logger: str) -> Iterator[Collected]:
    handler, log = Collected(), logging.getLogger(logger)
    log.addHandler(handler)
    try:
        yield handler
    finally:
        log.removeHandler(handler)


def speech(seconds: float, rate: int = 16000) -> bytes:
    """Caller speech: a tone the energy VAD hears as speech."""
    return tone(int(seconds * rate), 220.0, 0.3, rate)


@asynccontextmanager
async def acs_line(
    make_config: Callable[..., LoadedConfig],
    utterances: list[str],
    *,
    succeeds: bool = True,
    extra: str = "",
    target: str = "+18005550123",
) -> AsyncIterator[tuple[str, FakeAcs, Any]]:
    """A server whose call control is the fake ACS (the real SDK, signed with the resource key),
    transferring to ``target``; yields its base URL, the fake and the runtime."""
    acs = FakeAcs(transfer_succeeds=succeeds)
    await acs.start()
    toml = (f'[plugins.acs]\nendpoint = "{acs.url}"\nconnection_string_env = "ACS_CONNECTION_STRING"\n'
            f'transfer_target = "{target}"\n'
            f'caller_id = "+18005550100"\n{extra}')  # fmt: skip
    secret = f"endpoint=https://contoso-voice.communication.azure.com/;accesskey={KEY}"
    runtime = build_runtime(
        make_config, DeskLine(utterances), toml, environ={"ACS_CONNECTION_STRING": secret}
    )
    try:
        async with serving(runtime) as base:
            yield base, acs, runtime
    finally:
        await acs.stop()


async def call_events(runtime: Any, call_id: str) -> list[dict[str, Any]]:
    await runtime.outbox.flush()
    entries = await runtime.redis.xrange(runtime.config.bus.stream)
    return [e for e in (json.loads(f[b"event"]) for _, f in entries) if e["call_id"] == call_id]


class ServerThread:
    """The same server on its own event loop in a thread, for synchronous tests (hypothesis)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime, self.base = runtime, ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, name="acs-server", daemon=True)
        self.error: BaseException | None = None

    def _main(self) -> None:
        async def run() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            async with serving(self.runtime) as base:
                self.base = base
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(run())
        except BaseException as exc:  # reported by __exit__
            self.error = exc
            self._ready.set()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(60)
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the server thread stopped"
        if self.error is not None:
            raise self.error


class FakeSpeech:
    """Only the fake speech providers (the installed plugins bring the agents and the model)."""

    def __init__(self, utterances: Sequence[str], *, seconds_per_char: float = 0.01) -> None:
        self.line = DeskLine(utterances, seconds_per_char=seconds_per_char)

    @hookimpl
    def register_providers(self) -> list[ProviderSpec]:
        return [spec for spec in self.line.register_providers() if spec.kind != "model"]


def installed_runtime(
    make_config: Callable[..., LoadedConfig], speech: FakeSpeech, toml: str = ""
) -> Runtime:
    """Every installed plugin (the insurance vertical, the flows engine, ACS) plus fake speech."""
    host = PluginHost()
    host.load_entry_points()
    host.register("fakespeech", speech)
    text = '[session]\nvad = "fake"\nstt = "fake"\ntts = "fake"\n' + toml
    return Runtime(make_config(text), host=host, load_entry_points=False)
