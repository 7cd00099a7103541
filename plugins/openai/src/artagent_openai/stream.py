"""One streamed chat completion, requested by the ``openai`` client and read off the wire here.

The client still makes the request: authentication (key, Azure ``api-key``, Entra ID tokens),
the Azure deployment path and ``api-version``, timeouts, and the error statuses turned into
``openai.APIStatusError`` before any byte of a body is read. Only the body is read here, through
the client's streaming-response API (``with_streaming_response``): server-sent events parsed by
:mod:`artagent_openai.sse`, each decoded by msgspec into the few fields the router uses
(:mod:`artagent_openai.wire`). Failures are raised as the client's own stream would raise them
(``APITimeoutError``, ``APIConnectionError``, ``APIError`` for an error event or a chunk that is
not JSON), so :func:`artagent_openai.retry.classify` reads them the same way.

A read returns every chunk that its bytes completed: under load one read often carries several
events, and the caller then pays for one timeout and one await for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncGenerator
from typing import Any

import anyio
import httpx2
import msgspec
import openai

from artagent_openai.sse import EventParser, ServerSentEvent
from artagent_openai.wire import Chunk, decode_chunk

__all__ = ["ChunkStream"]

_TRANSPORT_ERRORS = (httpx2.RequestError, ssl.SSLError, anyio.EndOfStream)
"""What reading the body raises when the connection fails (the client's own stream maps the same)."""
DRAIN_S = 0.1
"""After ``[DONE]``, how long the rest of the body is read for the connection to be reused."""


class ChunkStream:
    """The chunks of one response; close it to close the HTTP response (the server sees it)."""

    def __init__(self, response: openai.AsyncAPIResponse[Any], exits: contextlib.AsyncExitStack) -> None:
        self._http = response.http_response
        self._exits = exits
        self._bytes: AsyncGenerator[bytes, None] = self._http.aiter_bytes()
        self._parser = EventParser()
        self._done = False
        """``[DONE]`` came; what follows it is ignored."""
        self._ended = False
        self._pending: openai.APIError | None = None
        """A failure found behind chunks that were returned first: raised by the next read."""

    @classmethod
    async def open(cls, client: openai.AsyncOpenAI, body: dict[str, Any]) -> ChunkStream:
        """Send the request (``body``: the keyword arguments of ``chat.completions.create``)."""
        exits = contextlib.AsyncExitStack()
        request = client.chat.completions.with_streaming_response.create(**body)
        response = await exits.enter_async_context(request)
        return cls(response, exits)

    async def read(self) -> list[Chunk] | None:
        """The chunks completed by the next bytes (at least one); ``None`` once the stream ended."""
        while not self._ended:
            if self._pending is not None:
                error, self._pending = self._pending, None
                raise error
            if self._done:
                await self._drain()
                break
            data = await self._next_bytes()
            if data is None:
                self._ended = True
                break
            chunks = self._decode(self._parser.feed(data))
            if chunks:
                return chunks
        return None

    async def close(self) -> None:
        try:
            await self._bytes.aclose()
        finally:
            await self._exits.aclose()

    async def _next_bytes(self) -> bytes | None:
        try:
            return await anext(self._bytes, None)
        except httpx2.TimeoutException as error:
            raise openai.APITimeoutError(request=self._http.request) from error
        except _TRANSPORT_ERRORS as error:
            raise openai.APIConnectionError(request=self._http.request) from error

    def _decode(self, events: list[ServerSentEvent]) -> list[Chunk]:
        chunks: list[Chunk] = []
        for event in events:
            if self._done:
                break
            if event.data.startswith(b"[DONE]"):
                self._done = True
                continue
            try:
                chunk = self._chunk(event)
            except openai.APIError as error:
                if not chunks:
                    raise
                self._pending = error  # the chunks before it are the caller's first
                break
            if chunk is not None:
                chunks.append(chunk)
        return chunks

    def _chunk(self, event: ServerSentEvent) -> Chunk | None:
        if not event.data.strip():
            return None  # an empty data line: nothing to decode
        try:
            chunk = decode_chunk(event.data)
        except msgspec.DecodeError as error:
            text = event.data[:200].decode("utf-8", "replace")
            if event.event == "error":
                raise openai.APIError(text, self._http.request, body=text) from None
            message = f"unreadable chunk ({error}): {text!r}"
            raise openai.APIError(message, self._http.request, body=None) from None
        if chunk.error or event.event == "error":
            body = chunk.error or None
            raise openai.APIError(_error_message(body), self._http.request, body=body)
        return chunk

    async def _drain(self) -> None:
        """Read what is left of the body (normally nothing but its end), so that the connection
        goes back to the pool rather than being closed; give up on it after ``DRAIN_S``."""
        self._ended = True
        with contextlib.suppress(Exception):  # the reply is whole; its tail's troubles do not matter
            async with asyncio.timeout(DRAIN_S):
                async for _ in self._bytes:
                    pass


def _error_message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
        return str(body["message"])
    return "An error occurred during streaming"
