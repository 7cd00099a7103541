"""``artagent chat``: a scenario as a text conversation in the terminal.

It runs a real call through the worker's launcher (the same orchestrator, tools, events, state
and bus as a phone call) on a text channel: each line read is a caller turn, each reply is
printed instead of spoken. Lines are read one at a time, after the agent has finished
answering the previous one, so a conversation can be scripted through stdin. ``--json``
prints every event of the call as one JSON line.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, TextIO

import msgspec
from uuid_utils import uuid7

from artagent.config import LoadedConfig
from artagent.events import (
    AgentHandoff,
    AgentResponseGenerated,
    CallEnded,
    ErrorOccurred,
    EscalationRequested,
    Event,
    ToolCalled,
    ToolCompleted,
)
from artagent.providers import AudioChunk, ProviderKind, Transcript, VoiceSpec
from artagent.session.modes import CallSession

__all__ = ["TextChannel", "chat", "text_speech"]

QUIT = {"/quit", "/bye", "/exit"}
NORMAL_ENDINGS = {"caller_hangup", "completed", "transferred", "escalated", "idle", "max_duration"}


class TextChannel:
    """A call with no audio: nothing comes in as frames, what is sent is dropped."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()
        self.hangup_reason: str | None = None

    async def frames(self) -> AsyncGenerator[bytes, None]:
        await self.closed.wait()
        return
        yield b""  # an async generator that yields nothing

    async def send(self, frame: bytes) -> None:
        pass

    async def flush(self) -> None:
        pass

    async def hangup(self, reason: str) -> None:
        self.hangup_reason = reason
        self.closed.set()


class _Silence:
    async def speech_probability(self, frame: bytes) -> float:
        return 0.0


class _NoVAD:
    def open(self, *, sample_rate: int) -> _Silence:
        return _Silence()


class _NoRecognition:
    def __init__(self) -> None:
        self._closed = asyncio.Event()

    async def push(self, frame: bytes) -> None:
        pass

    async def end_of_speech(self) -> None:
        pass

    async def results(self) -> AsyncIterator[Transcript]:
        await self._closed.wait()
        return
        yield Transcript(text="", is_final=True)

    async def close(self) -> None:
        self._closed.set()


class _NoSTT:
    async def open(self, *, sample_rate: int, language: str | None = None) -> _NoRecognition:
        return _NoRecognition()


class _NoVoice:
    async def synthesize(self, text: str, *, voice: VoiceSpec | None = None) -> AsyncIterator[AudioChunk]:
        return
        yield AudioChunk(b"", 16_000)


def text_speech() -> dict[ProviderKind, Any]:
    """Speech providers for a text call: no VAD, no recogniser, no voice."""
    return {"vad": _NoVAD(), "stt": _NoSTT(), "tts": _NoVoice()}


class Printer:
    """Shows the call's events as a transcript, or as JSON lines."""

    def __init__(self, out: TextIO, *, as_json: bool) -> None:
        self.out, self.as_json = out, as_json
        self.ended: CallEnded | None = None
        self._encoder = msgspec.json.Encoder()

    def __call__(self, event: Event) -> None:
        if isinstance(event, CallEnded):
            self.ended = event
        if self.as_json:
            self.out.write(self._encoder.encode(event).decode() + "\n")
        elif (line := self._line(event)) is not None:
            self.out.write(line + "\n")
        self.out.flush()

    @staticmethod
    def _line(event: Event) -> str | None:
        if isinstance(event, AgentResponseGenerated):
            return f"[{event.agent}] {event.text}" if event.text else None
        if isinstance(event, AgentHandoff):
            return f"-- handoff {event.from_agent} -> {event.to_agent} ({event.kind})"
        if isinstance(event, ToolCalled):
            return f"-- tool {event.tool} {msgspec.json.encode(event.arguments).decode()}"
        if isinstance(event, ToolCompleted):
            outcome = "ok" if event.ok else "failed"
            return f"-- tool {event.tool} {outcome}: {msgspec.json.encode(event.result).decode()}"
        if isinstance(event, EscalationRequested):
            return f"-- escalation requested: {event.reason}"
        if isinstance(event, ErrorOccurred):
            return f"-- error ({event.stage}): {event.kind}: {event.message}"
        if isinstance(event, CallEnded):
            return f"-- call ended: {event.reason}"
        return None


def _reader(source: TextIO) -> asyncio.Queue[str | None]:
    """Lines of ``source`` as they are read, by a daemon thread (a blocked terminal read must
    not keep the process alive once the call is over); ``None`` at the end."""
    loop, queue = asyncio.get_running_loop(), asyncio.Queue[str | None]()

    def read() -> None:
        for line in iter(source.readline, ""):
            loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\n"))
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="chat-stdin", daemon=True).start()
    return queue


async def _next_line(queue: asyncio.Queue[str | None], channel: TextChannel) -> str | None:
    """The next line, or ``None`` once input ended or the call did."""
    line = asyncio.ensure_future(queue.get())
    closed = asyncio.ensure_future(channel.closed.wait())
    await asyncio.wait({line, closed}, return_when=asyncio.FIRST_COMPLETED)
    closed.cancel()
    if not line.done():
        line.cancel()
        return None
    return line.result()


async def _converse(
    session: CallSession, channel: TextChannel, source: TextIO, echo: Callable[[str], None]
) -> None:
    """Feed each line to the call once the agent has answered the previous one."""
    queue = _reader(source)
    await session.until_quiet()
    while (line := await _next_line(queue, channel)) is not None:
        if channel.closed.is_set():
            break
        if line.strip() in QUIT:
            break
        if not line.strip():
            continue
        echo(line)
        await session.submit_text(line)
        await session.until_quiet()
    await session.until_quiet()
    channel.closed.set()  # the caller is done: hang up


async def chat(
    loaded: LoadedConfig,
    *,
    scenario: str | None,
    as_json: bool,
    source: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
) -> int:
    """Run one text call; 0 when it ended normally (the caller left, the agent ended it, a
    transfer), 1 when it failed."""
    from artagent.runtime import Runtime  # the CLI imports this module before the runtime

    runtime = Runtime(loaded)
    printer, channel = Printer(out, as_json=as_json), TextChannel()
    started: asyncio.Future[CallSession] = asyncio.get_running_loop().create_future()

    def echo(line: str) -> None:
        if not as_json and not source.isatty():
            out.write(f"> {line}\n")

    settings = msgspec.structs.replace(
        runtime.sessions.settings_for("cli"), idle_reprompt_s=86_400.0, idle_hangup_s=172_800.0
    )
    async with runtime.running():
        call = asyncio.create_task(
            runtime.sessions.run(
                f"chat-{uuid7()}",
                channel,
                channel_name="cli",
                scenario=scenario,
                settings=settings,
                speech=text_speech(),
                observer=printer,
                on_start=started.set_result,
            )
        )
        done, _ = await asyncio.wait({call, started}, return_when=asyncio.FIRST_COMPLETED)
        if started in done:
            await _converse(started.result(), channel, source, echo)
        await call
        await runtime.outbox.flush()
    ended = printer.ended
    return 0 if ended is not None and ended.reason in NORMAL_ENDINGS else 1
