"""A local stand-in for OpenAI and Azure OpenAI: a real HTTP server on loopback, scripted per test.

It runs uvicorn in a thread of its own (with its own event loop), so any test can use it: a
plain ``def`` test, an ``async def`` one, a whole call through the session engine. It speaks
the real wire protocol, so the real ``openai`` client (and anything built on it) talks to it
unchanged::

    with FakeOpenAIServer(api_key="sk-test") as server:
        server.script(Reply(text="Hello there."), ErrorReply(429, headers={"retry-after": "1"}))
        client = AsyncOpenAI(base_url=server.base_url, api_key="sk-test")
        ...
        [request] = server.requests
        assert request.body["temperature"] == 0.2

Routes:

- ``POST /v1/chat/completions`` (OpenAI and compatible servers: ``base_url`` is
  :attr:`FakeOpenAIServer.base_url`);
- ``POST /openai/deployments/{deployment}/chat/completions?api-version=...`` (Azure OpenAI:
  ``azure_endpoint`` is :attr:`FakeOpenAIServer.endpoint`); without ``api-version`` it answers
  404, as Azure does;
- ``GET /msi/token`` (an App Service managed identity endpoint: point ``IDENTITY_ENDPOINT`` at
  :attr:`FakeOpenAIServer.identity_endpoint` and ``IDENTITY_HEADER`` at
  :attr:`FakeOpenAIServer.identity_header`, and azure-identity's DefaultAzureCredential gets its
  Entra ID tokens here).

Each chat request takes the next scripted response (:meth:`FakeOpenAIServer.script`), or, once
the queue is empty, what the function given to :meth:`FakeOpenAIServer.respond_with` returns;
with neither, it gets a 400 saying so. Every request is recorded (:attr:`requests`) with its
path, query, headers and JSON body, and whether the client went away before the response ended.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

from fakes.openai_script import ErrorReply, RawStream, Reply, Response, Stall, sse

__all__ = ["FakeOpenAIServer", "RecordedRequest"]

_AZURE = re.compile(r"^/openai/deployments/(?P<deployment>[^/]+)/chat/completions$")
_JSON = [(b"content-type", b"application/json")]


class _DroppedConnection(Exception):
    """Raised inside the app to make uvicorn break the connection mid-response."""


@dataclass
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-cased names."""
    body: dict[str, Any]
    deployment: str | None = None
    """The Azure deployment in the path, if it was an Azure request."""
    client: tuple[str, int] | None = None
    """The client's address and port: the same port for two requests is one connection reused."""
    received_at: float = field(default_factory=time.monotonic)
    finished: threading.Event = field(default_factory=threading.Event)
    """The server answered it to the end (as scripted) with the client still there."""
    disconnected: threading.Event = field(default_factory=threading.Event)
    """The client closed the connection before the response was complete."""

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def tools(self) -> list[dict[str, Any]]:
        return list(self.body.get("tools", []))


class FakeOpenAIServer:
    """A scripted OpenAI / Azure OpenAI server on ``127.0.0.1`` and a free port."""

    def __init__(self, *, api_key: str | None = None, tokens: tuple[str, ...] = ()) -> None:
        """``api_key``: the only key accepted (``Authorization: Bearer`` or Azure's ``api-key``);
        ``tokens``: Entra ID bearer tokens also accepted. Neither: no authentication."""
        self.api_key = api_key
        self.tokens = set(tokens)
        self.identity_header = "fake-identity-header"
        self.issued_tokens: list[str] = []
        self.requests: list[RecordedRequest] = []
        self._arrived = threading.Condition()
        self._queue: collections.deque[Response] = collections.deque()
        self._responder: Callable[[RecordedRequest], Response] | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- the test's side -----------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        """The server's root: Azure's ``azure_endpoint``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI's ``base_url``."""
        return f"{self.endpoint}/v1"

    @property
    def identity_endpoint(self) -> str:
        return f"{self.endpoint}/msi/token"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def script(self, *responses: Response) -> None:
        """Queue responses, one per coming chat request, in order."""
        self._queue.extend(responses)

    def respond_with(self, responder: Callable[[RecordedRequest], Response]) -> None:
        """Answer requests with ``responder(request)`` once the scripted queue is empty."""
        self._responder = responder

    async def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Wait (without blocking the caller's loop) until ``count`` chat requests have arrived."""

        def arrived() -> bool:
            with self._arrived:
                return self._arrived.wait_for(lambda: len(self.chat_requests) >= count, timeout)

        return await asyncio.to_thread(arrived)

    async def wait_disconnected(self, request: RecordedRequest, timeout: float = 5.0) -> bool:
        """Wait (without blocking the caller's loop) until the client dropped ``request``."""
        return await asyncio.to_thread(request.disconnected.wait, timeout)

    def __enter__(self) -> FakeOpenAIServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=0,
            interface="asgi3",
            lifespan="off",
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-openai", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = self._thread = None

    # -- the server's side ---------------------------------------------------------------------
    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        request = self._record(scope, b"".join(chunks))
        gone = asyncio.Event()
        watcher = asyncio.create_task(self._watch(receive, request, gone))
        try:
            await self._answer(request, send, gone)
            if not gone.is_set():
                request.finished.set()
        finally:
            watcher.cancel()

    def _record(self, scope: dict[str, Any], raw: bytes) -> RecordedRequest:
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = {"_raw": raw.decode(errors="replace")}
        path = scope["path"]
        azure = _AZURE.match(path)
        request = RecordedRequest(
            method=scope["method"],
            path=path,
            query=dict(parse_qsl(scope.get("query_string", b"").decode())),
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
            body=body if isinstance(body, dict) else {"_json": body},
            deployment=azure.group("deployment") if azure else None,
            client=(scope["client"][0], scope["client"][1]) if scope.get("client") else None,
        )
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()
        return request

    @staticmethod
    async def _watch(receive: Any, request: RecordedRequest, gone: asyncio.Event) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if not request.finished.is_set():  # uvicorn also says "disconnect" once a response is done
            request.disconnected.set()
        gone.set()

    async def _answer(self, request: RecordedRequest, send: Any, gone: asyncio.Event) -> None:
        if request.method == "GET" and request.path == "/msi/token":
            await self._token(request, send)
            return
        refusal = self._refusal(request)
        if refusal is not None:
            await _send_error(send, refusal)
            return
        response = self._next(request)
        if isinstance(response, ErrorReply):
            await _send_error(send, response)
        elif isinstance(response, Stall):
            await _pause(gone, response.seconds)
            await send({"type": "http.response.start", "status": 504, "headers": _JSON})
            await send({"type": "http.response.body", "body": b"{}"})
        elif isinstance(response, RawStream):
            await _raw_stream(send, response, gone)
        else:
            await _stream(send, response, request, gone)

    def _refusal(self, request: RecordedRequest) -> ErrorReply | None:
        if request.method != "POST" or not request.path.endswith("/chat/completions"):
            return ErrorReply(404, f"no route {request.method} {request.path}")
        if request.deployment is not None and "api-version" not in request.query:
            return ErrorReply(404, "Resource not found")
        if self.api_key is None and not self.tokens:
            return None
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.api_key is not None and self.api_key in (bearer, request.headers.get("api-key")):
            return None
        if bearer in self.tokens or bearer in self.issued_tokens:
            return None
        return ErrorReply(401, "Incorrect API key provided")

    def _next(self, request: RecordedRequest) -> Response:
        if self._queue:
            return self._queue.popleft()
        if self._responder is not None:
            return self._responder(request)
        count = len(self.chat_requests)
        return ErrorReply(400, f"fake server: no scripted response for chat request #{count}")

    async def _token(self, request: RecordedRequest, send: Any) -> None:
        if request.headers.get("x-identity-header") != self.identity_header:
            await _send_error(send, ErrorReply(401, "bad X-IDENTITY-HEADER"))
            return
        token = f"entra-token-{len(self.issued_tokens) + 1}"
        self.issued_tokens.append(token)
        body = {
            "access_token": token,
            "expires_on": str(int(time.time()) + 3600),
            "resource": request.query.get("resource", ""),
            "token_type": "Bearer",
        }
        await send({"type": "http.response.start", "status": 200, "headers": _JSON})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def _send_error(send: Any, error: ErrorReply) -> None:
    headers = _JSON + [(k.lower().encode(), str(v).encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": error.body()})


async def _pause(gone: asyncio.Event, seconds: float) -> None:
    """Sleep, but stop early when the client goes away (nobody is listening any more)."""
    if seconds > 0:
        try:
            await asyncio.wait_for(gone.wait(), seconds)
        except TimeoutError:
            pass


async def _stream(send: Any, reply: Reply, request: RecordedRequest, gone: asyncio.Event) -> None:
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await _pause(gone, reply.first_chunk_delay_s)
    include_usage = bool((request.body.get("stream_options") or {}).get("include_usage"))
    for sent, chunk in enumerate(reply.chunks(request.model, include_usage)):
        if gone.is_set():
            return
        if reply.drop_after is not None and sent == reply.drop_after:
            raise _DroppedConnection("the script drops the connection here")
        if reply.stall_after is not None and sent == reply.stall_after:
            await _pause(gone, reply.stall_s)
            return
        if sent:
            await _pause(gone, reply.chunk_delay_s)
        await send({"type": "http.response.body", "body": sse(chunk), "more_body": True})
    await send({"type": "http.response.body", "body": sse("[DONE]"), "more_body": False})


async def _raw_stream(send: Any, raw: RawStream, gone: asyncio.Event) -> None:
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for sent, part in enumerate(raw.parts):
        if gone.is_set():
            return
        if sent:
            await _pause(gone, raw.part_delay_s)
        body = part.encode() if isinstance(part, str) else part
        await send({"type": "http.response.body", "body": body, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
