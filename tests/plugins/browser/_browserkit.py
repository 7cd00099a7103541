"""What the browser plugin's tests share: a real app under uvicorn on a loopback port, a test
plugin offering fake speech providers on the real clock, and a WebSocket conversation client.

The server runs the installed plugins (the browser channel, the insurance scenario on the
offline flows engine, the history) with one addition: ``FakeSpeech``, registered like any
plugin, whose VAD hears energy, whose recogniser returns scripted utterances and whose voice
is a tone. Only speech is faked; the channel, the session, the agents and the bus are real.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from artagent.app import create_app
from artagent.config import parse_config
from artagent.hookspecs import hookimpl
from artagent.plugins import PluginHost
from artagent.providers import ProviderSpec
from artagent.runtime import Runtime
from artagent.session.playout import LoopClock
from artagent.testing import FakeSTT, FakeTTS, FakeVAD
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

SECRET = "browser-tests-signing-secret"
GREETING = (
    "Thank you for calling Contoso Insurance. To get started, please tell me your full name and ZIP "
    "code, or the last four digits of your policy or phone number."
)


class FakeSpeech:
    """A test plugin: an energy VAD, scripted recognition and a fast tone voice."""

    def __init__(self, utterances: Sequence[str] = (), seconds_per_char: float = 0.012) -> None:
        self.clock = LoopClock()
        self.utterances = list(utterances)
        self.seconds_per_char = seconds_per_char

    @hookimpl
    def register_providers(self) -> list[ProviderSpec]:
        clock = self.clock
        return [
            ProviderSpec("vad", "fake", lambda _: FakeVAD()),
            ProviderSpec(
                "stt",
                "fake",
                lambda _: FakeSTT(clock, self.utterances, partial_every=5, final_latency_s=0.05),
            ),
            ProviderSpec(
                "tts",
                "fake",
                lambda _: FakeTTS(clock, seconds_per_char=self.seconds_per_char, first_audio_latency_s=0.02),
            ),
        ]


REAL_SPEECH = '[session]\nvad = "silero"\nstt = "whisper"\ntts = "piper"\n'
"""The local speech plugin's real models: Silero, faster-whisper tiny.en, Piper."""


def server_config(data_dir: Path, extra: str = "", stt: str = "fake", *, real_speech: bool = False) -> str:
    """runtime.toml for a test server: fake speech (or the real local models), the insurance
    scenario on the flows engine, history in SQLite."""
    disabled = "[]" if real_speech else '["local_speech"]'
    session = REAL_SPEECH if real_speech else f'[session]\nvad = "fake"\nstt = "{stt}"\ntts = "fake"\n'
    return (
        f'[runtime]\ndata_dir = "{data_dir}"\ndisable_plugins = {disabled}\n'
        f"{session}"
        "idle_reprompt_s = 600.0\nidle_hangup_s = 1200.0\n"
        '[agents]\nscenario = "insurance"\nrouters = ["flows"]\n'
        '[observability]\nlog_level = "WARNING"\n'
        f"{extra}"
    )


@dataclass
class Server:
    url: str
    runtime: Runtime
    http: httpx.AsyncClient = field(repr=False)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/v1/browser/conversation"

    async def token(self, **body: Any) -> dict[str, Any]:
        response = await self.http.post("/api/v1/browser/sessions", json=body)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def conversation(self, **body: Any) -> Conversation:
        session = await self.token(**body)
        ws = await connect(f"{self.ws_url}?token={session['token']}", max_size=None)
        return Conversation(ws, session["call_id"])


@asynccontextmanager
async def serve(
    data_dir: Path,
    *,
    speech: FakeSpeech | None = None,
    extra: str = "",
    environ: dict[str, str] | None = None,
    stt: str = "fake",
    real_speech: bool = False,
) -> AsyncIterator[Server]:
    """The app, with every installed plugin and fake speech (``real_speech``: the local speech
    plugin's models instead), on a free loopback port, once its providers are warmed up."""
    env = {"BROWSER_SECRET": SECRET, **(environ or {})}
    extra = (
        f'[plugins.browser]\nsecret_env = "BROWSER_SECRET"\n{extra}'
        if "[plugins.browser]" not in extra
        else extra
    )
    text = server_config(data_dir, extra, stt, real_speech=real_speech)
    loaded = parse_config(text, base_dir=data_dir, environ=env)
    host = PluginHost(disabled=loaded.config.runtime.disable_plugins)
    host.load_entry_points()
    if not real_speech:
        host.register("fakespeech", speech or FakeSpeech())
    runtime = Runtime(loaded, host=host, load_entry_points=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(runtime), log_level="warning", lifespan="on", ws_max_size=1 << 20)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.02)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            assert await runtime.warmed_up(), runtime.checks  # the real models load here
            yield Server(url, runtime, http)
    finally:
        server.should_exit = True
        await task
        sock.close()


class Conversation:
    """One page's side of the WebSocket: what it received, by kind, as it arrives."""

    def __init__(self, ws: ClientConnection, call_id: str) -> None:
        self.ws, self.call_id = ws, call_id
        self.messages: list[dict[str, Any]] = []
        self.audio_frames = 0
        self.audio_sizes: set[int] = set()
        self.log: list[str] = []
        """``audio`` or a message type, in arrival order."""
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if isinstance(message, bytes):
                    self.audio_frames += 1
                    self.audio_sizes.add(len(message))
                    self.log.append("audio")
                else:
                    data = json.loads(message)
                    self.messages.append(data)
                    self.log.append(data["type"] if data["type"] != "event" else data["event"]["type"])
                self._changed.set()
        except ConnectionClosed:
            pass
        finally:
            self._changed.set()

    @property
    def events(self) -> list[dict[str, Any]]:
        return [m["event"] for m in self.messages if m["type"] == "event"]

    async def until(self, predicate: Any, timeout: float = 10.0) -> None:
        """Wait until ``predicate(self)`` holds (or fail, saying what arrived)."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                if self._reader.done():
                    raise AssertionError(f"connection closed ({self.close_code}): {self.log[-20:]}")
                self._changed.clear()
                await self._changed.wait()

    async def until_event(self, type_: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        def found(c: Conversation) -> bool:
            return any(_matches(e, type_, fields) for e in c.events)

        await self.until(found, timeout)
        return next(e for e in self.events if _matches(e, type_, fields))

    async def closed(self, timeout: float = 10.0) -> tuple[int | None, str]:
        async with asyncio.timeout(timeout):
            await self._reader
        return self.close_code, self.close_reason

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    @property
    def close_reason(self) -> str:
        return self.ws.close_reason or ""

    async def say_text(self, text: str) -> None:
        await self.ws.send(json.dumps({"type": "text", "text": text}))

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self._reader, return_exceptions=True)


def _matches(event: dict[str, Any], type_: str, fields: dict[str, Any]) -> bool:
    return event["type"] == type_ and all(
        value in event.get(key, "") if isinstance(value, str) else event.get(key) == value
        for key, value in fields.items()
    )
