"""A local stand-in for Azure Voice Live / Azure OpenAI Realtime / OpenAI Realtime: a real
WebSocket server on loopback that speaks the realtime protocol, in either dialect.

``async with FakeRealtime(utterances=[...]) as fake`` serves on ``fake.url`` (``ws://127.0.0.1:<port>``),
on the test's own event loop. Per connection it:

- checks the sign-in (``api-key`` header, or ``Authorization: Bearer <key or token>``), else 401;
- says ``session.created``, answers each ``session.update`` with ``session.updated``;
- listens to ``input_audio_buffer.append`` at the session's input rate with an energy VAD:
  ``speech_started`` (cancelling the response in progress when ``interrupt_response``), then
  after ``silence_duration_ms`` of silence ``speech_stopped``, ``committed``, the caller's item,
  its transcription (the next of ``utterances``) and, with ``create_response``, a response;
- answers ``response.create`` (with its own ``instructions`` if given), ``response.cancel``
  (``response.done`` cancelled, or an error when nothing is in progress, as the services do),
  ``conversation.item.truncate`` and ``conversation.item.create``;
- gives each response what the brain (:mod:`realtime_script`) says: audio deltas (a tone,
  ``ms_per_char`` per character, sent ``pace`` times real time) with their transcript, function
  calls, an ``error`` event, or a broken connection.

``dialect="preview"`` spells ``response.audio.delta``, ``response.audio_transcript.*`` and
``conversation.item.created``; ``"ga"`` spells ``response.output_audio.delta`` and so on.
Everything the client sent is recorded per connection (:class:`Connection`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
from fake_responses import new_id as _id
from fake_responses import respond
from realtime_script import SPELLINGS, Brain, Context, echo_brain
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

INAUDIBLE = "<inaudible>"
"""An utterance whose transcription fails (``...input_audio_transcription.failed``)."""


@dataclass
class Connection:
    """One client session as the fake saw it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    received: list[dict[str, Any]] = field(default_factory=list)
    session: dict[str, Any] = field(default_factory=dict)
    """The session as configured so far (keys of every ``session.update`` merged)."""
    items: list[dict[str, Any]] = field(default_factory=list)
    audio_ms: float = 0.0
    stops_sent: list[float] = field(default_factory=list)
    """time.monotonic() of each ``speech_stopped`` (for the benchmark)."""
    first_audio_sent: list[float] = field(default_factory=list)
    """time.monotonic() of each response's first audio delta."""
    closed: bool = False

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.received if e["type"] == kind]

    @property
    def updates(self) -> list[dict[str, Any]]:
        return [e["session"] for e in self.of("session.update")]


class FakeRealtime:
    def __init__(
        self,
        *,
        utterances: Sequence[str] = (),
        brain: Brain = echo_brain,
        dialect: str = "preview",
        key: str | None = "test-key",
        tokens: Sequence[str] = (),
        ms_per_char: float = 8.0,
        chunk_ms: int = 100,
        pace: float = 4.0,
        first_audio_s: float = 0.05,
        transcription_s: float = 0.02,
    ) -> None:
        self.utterances = list(utterances)
        self.brain, self.dialect, self.key, self.tokens = brain, dialect, key, list(tokens)
        self.ms_per_char, self.chunk_ms, self.pace = ms_per_char, chunk_ms, pace
        self.first_audio_s, self.transcription_s = first_audio_s, transcription_s
        """The model's own delay before its first audio, and the transcription's."""
        self.connections: list[Connection] = []
        self.refuse_with: HTTPStatus | None = None
        self._heard = 0
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def __aenter__(self) -> FakeRealtime:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._authenticate, max_size=None
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def _authenticate(self, connection: ServerConnection, request: Request) -> Response | None:
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        url = urlsplit(request.path)
        self.connections.append(Connection(url.path, dict(parse_qsl(url.query)), headers))
        if self.refuse_with is not None:
            return connection.respond(self.refuse_with, f"{self.refuse_with.phrase}\n")
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        if self.key is None or self.key in (headers.get("api-key"), bearer) or bearer in self.tokens:
            return None
        return connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")

    async def _handle(self, ws: ServerConnection) -> None:
        session = _Session(self, ws, self.connections[-1])
        try:
            await session.serve()
        except ConnectionClosed:
            pass
        finally:
            session.connection.closed = True
            await session.stop()

    def next_utterance(self) -> str:
        text = self.utterances[self._heard] if self._heard < len(self.utterances) else ""
        self._heard += 1
        return text


class _Session:
    """The protocol on one connection."""

    def __init__(self, fake: FakeRealtime, ws: ServerConnection, connection: Connection) -> None:
        self.fake, self.ws, self.connection = fake, ws, connection
        self.names = SPELLINGS[fake.dialect]
        self.response: asyncio.Task[None] | None = None
        self.cancelled = False
        self.speaking, self.start_ms, self.last_voice_ms = False, 0.0, 0.0
        self.item_id = ""
        self.pending = b""
        self.tasks: set[asyncio.Task[None]] = set()

    async def send(self, kind: str, **fields: Any) -> None:
        await self.ws.send(json.dumps({"type": kind, "event_id": _id("event"), **fields}))

    async def serve(self) -> None:
        await self.send(
            "session.created", session={"id": _id("sess"), "model": self.connection.query.get("model")}
        )
        async for message in self.ws:
            event = json.loads(message)
            self.connection.received.append(event)
            await getattr(self, "on_" + event["type"].replace(".", "_"), self.ignore)(event)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()

    async def ignore(self, event: dict[str, Any]) -> None:
        pass

    def spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # -- configuration ---------------------------------------------------------------------
    async def on_session_update(self, event: dict[str, Any]) -> None:
        self.connection.session.update(event["session"])
        await self.send("session.updated", session=self.connection.session)

    def _setting(self, ga_path: Sequence[str], preview_key: str, default: Any) -> Any:
        session: Any = self.connection.session
        if self.fake.dialect == "ga":
            for key in ga_path:
                session = (session or {}).get(key) if isinstance(session, dict) else None
            return default if session is None else session
        return session.get(preview_key, default)

    @property
    def turn_detection(self) -> dict[str, Any]:
        return self._setting(("audio", "input", "turn_detection"), "turn_detection", {}) or {}

    @property
    def input_rate(self) -> int:
        if self.fake.dialect == "ga":
            return int(self._setting(("audio", "input", "format", "rate"), "", 24000))
        return int(self.connection.session.get("input_audio_sampling_rate", 24000))

    # -- the caller ------------------------------------------------------------------------
    async def on_input_audio_buffer_append(self, event: dict[str, Any]) -> None:
        self.pending += base64.b64decode(event["audio"])
        size = self.input_rate // 50 * 2
        while len(self.pending) >= size:
            frame, self.pending = self.pending[:size], self.pending[size:]
            samples = np.frombuffer(frame, dtype="<i2").astype(np.float64)
            self.connection.audio_ms += 20.0
            await self._frame(float(np.sqrt(np.mean(samples**2))) > 500)

    async def _frame(self, voiced: bool) -> None:
        now_ms = self.connection.audio_ms
        if voiced and not self.speaking:
            self.speaking, self.start_ms, self.item_id = True, now_ms - 20.0, _id("item")
            await self.send(
                "input_audio_buffer.speech_started", audio_start_ms=self.start_ms, item_id=self.item_id
            )
            if (
                self.response is not None
                and not self.response.done()
                and self.turn_detection.get("interrupt_response", True)
            ):
                await self._cancel()
        if voiced:
            self.last_voice_ms = now_ms
        silence = float(self.turn_detection.get("silence_duration_ms", 500))
        if self.speaking and not voiced and now_ms - self.last_voice_ms >= silence:
            self.speaking = False
            await self._end_of_turn()

    async def _end_of_turn(self) -> None:
        item = self.item_id
        self.connection.stops_sent.append(time.monotonic())
        await self.send("input_audio_buffer.speech_stopped", audio_end_ms=self.last_voice_ms, item_id=item)
        await self.send("input_audio_buffer.committed", item_id=item, previous_item_id=None)
        words = self.fake.next_utterance()
        user = {"id": item, "type": "message", "role": "user", "text": words}
        self.connection.items.append(user)
        await self.send(self.names["item_created"], item={"id": item, "type": "message", "role": "user"})
        self.spawn(self._transcribe(item, words))
        if self.turn_detection.get("create_response", True):
            await self._start(None)

    async def _transcribe(self, item: str, words: str) -> None:
        await asyncio.sleep(self.fake.transcription_s)
        kind = "conversation.item.input_audio_transcription"
        if words == INAUDIBLE:
            error = {
                "type": "transcription_error",
                "code": "audio_unintelligible",
                "message": "No speech found",
            }
            await self.send(f"{kind}.failed", item_id=item, content_index=0, error=error)
            return
        if words:
            await self.send(f"{kind}.delta", item_id=item, content_index=0, delta=words.split()[0] + " ")
        await self.send(f"{kind}.completed", item_id=item, content_index=0, transcript=words)

    # -- the client's requests -------------------------------------------------------------
    async def on_response_create(self, event: dict[str, Any]) -> None:
        if self.response is not None and not self.response.done():
            await self._error("conversation_already_has_active_response", "A response is in progress", event)
            return
        await self._start((event.get("response") or {}).get("instructions"))

    async def on_response_cancel(self, event: dict[str, Any]) -> None:
        if self.response is None or self.response.done():
            await self._error("response_cancel_not_active", "There is no active response", event)
            return
        await self._cancel()

    async def on_conversation_item_truncate(self, event: dict[str, Any]) -> None:
        await self.send(
            "conversation.item.truncated",
            item_id=event["item_id"],
            content_index=0,
            audio_end_ms=event["audio_end_ms"],
        )

    async def on_conversation_item_create(self, event: dict[str, Any]) -> None:
        item = dict(event["item"], id=_id("item"))
        if item.get("type") == "function_call_output":
            item["output"] = json.loads(item["output"])
        elif item.get("type") == "message":
            item["text"] = item["content"][0]["text"]
        self.connection.items.append(item)
        await self.send(self.names["item_created"], item={"id": item["id"], "type": item["type"]})

    async def _error(self, code: str, message: str, event: dict[str, Any]) -> None:
        error = {
            "type": "invalid_request_error",
            "code": code,
            "message": message,
            "event_id": event["event_id"],
        }
        await self.send("error", error=error)

    # -- responses -------------------------------------------------------------------------
    async def _start(self, instructions: str | None) -> None:
        self.cancelled = False
        response_id = _id("resp")
        await self.send(
            "response.created", response={"id": response_id, "status": "in_progress", "output": []}
        )
        self.response = self.spawn(respond(self, response_id, self._context(instructions)))

    def _context(self, instructions: str | None) -> Context:
        session = str(self.connection.session.get("instructions", ""))
        tools = {t["name"] for t in self.connection.session.get("tools", [])}
        last = self.connection.items[-1] if self.connection.items else {}
        return Context(
            instructions or session, instructions, session, tools, last, list(self.connection.items)
        )

    async def _cancel(self) -> None:
        self.cancelled = True
        if self.response is not None:
            await asyncio.wait({self.response})
