"""A ``model`` provider over the chat completions API, with retries, timeouts and fallback models.

A reply has two phases. Until its first item is handed to the caller, nothing has been said, so
a failure may be retried (HTTP 429, 5xx, a dropped connection) or passed to the next model (a
timeout, a refusal): the caller only notices a longer wait. Once an item has been handed over,
the reply is committed to that model: a failure then ends the reply with
:class:`ModelResponseError`, because a retry would say again what the caller already heard.

Time is bounded twice: ``first_token_timeout_s`` for each attempt's first token (or tool-call
fragment), and ``timeout_s`` for the whole reply, every attempt included. Each bound wraps a
single read, never a ``yield``, so it only ever interrupts this router's own waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import openai
from artagent.providers import ModelItem, ModelRequest

from artagent_openai.assembly import ChunkAssembler
from artagent_openai.client import ClientHandle, TokenProvider, build_client
from artagent_openai.config import TABLE, RouterConfig
from artagent_openai.errors import ModelResponseError, ModelRouterError, NoModelAnsweredError
from artagent_openai.request import chat_body
from artagent_openai.retry import Failure, backoff_s, classify
from artagent_openai.stream import ChunkStream

__all__ = ["OpenAIRouter"]

log = logging.getLogger(__name__)


@dataclass
class _Opened:
    """An attempt that produced its first items: the reply is committed to it."""

    model: str
    stream: ChunkStream
    assembler: ChunkAssembler
    items: list[ModelItem]
    done: bool
    """The stream has ended (``items`` already holds the usage)."""


class _GiveUp(Exception):
    """Stop trying models: the time is up, or every model would be refused the same way."""


class OpenAIRouter:
    """One configured router (``[plugins.openai.routers.<name>]``), shared by every call."""

    def __init__(
        self,
        name: str,
        config: RouterConfig,
        *,
        api_key: str | None = None,
        token_provider: TokenProvider | None = None,
    ) -> None:
        self.name, self.config = name, config
        self._api_key = api_key
        self._token_provider = token_provider
        self._handle: ClientHandle | None = None
        self._refused: tuple[str, float] | None = None
        """Why the credentials failed, and until when (monotonic time) that makes it unavailable."""

    def __repr__(self) -> str:
        return f"OpenAIRouter({self.name!r}, kind={self.config.kind!r}, model={self.config.default_model!r})"

    def with_config(self, config: RouterConfig) -> OpenAIRouter:
        """A router of its own with other settings and the same credentials."""
        return OpenAIRouter(self.name, config, api_key=self._api_key, token_provider=self._token_provider)

    def unavailable(self) -> str | None:
        """Why this router cannot serve a call (no key, a key the server refused), or ``None``."""
        if self._refused is not None:
            reason, until = self._refused
            if time.monotonic() < until:
                return reason
            self._refused = None
        variable = self.config.api_key_env
        if variable and not self._api_key:
            return f"{variable} is not set"
        if self.config.kind == "openai" and not self._api_key:
            return f"{TABLE}.routers.{self.name}.api_key_env is not set: OpenAI needs an API key"
        return None

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelItem]:
        """Text as it streams, tool calls once the response finishes, the usage last; closing
        the iterator closes the HTTP response (the server sees the connection go)."""
        return self._stream(request)

    async def aclose(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            await handle.aclose()

    # -- one reply ---------------------------------------------------------------------------
    async def _stream(self, request: ModelRequest) -> AsyncIterator[ModelItem]:
        reason = self.unavailable()
        if reason is not None:
            raise ModelRouterError(f"model router {self.name!r} is unavailable: {reason}")
        deadline = asyncio.get_running_loop().time() + self.config.timeout_s
        attempts: list[str] = []
        opened: _Opened | None = None
        try:
            for model in self._models(request):
                opened = await self._open(model, request, deadline, attempts)
                if opened is not None:
                    break
        except _GiveUp:
            pass
        if opened is None:
            raise NoModelAnsweredError(self.name, attempts)
        try:
            for item in opened.items:
                yield item
            if not opened.done:
                async for item in self._rest(opened, deadline):
                    yield item
        finally:
            await opened.stream.close()

    def _models(self, request: ModelRequest) -> Iterator[str]:
        seen: set[str] = set()
        for model in (request.model or self.config.default_model, *self.config.fallback_models):
            if model and model not in seen:
                seen.add(model)
                yield model

    async def _open(
        self, model: str, request: ModelRequest, deadline: float, attempts: list[str]
    ) -> _Opened | None:
        """Try ``model`` (with its retries) until its first items; ``None``: try the next one."""
        loop = asyncio.get_running_loop()
        body = chat_body(request, self.config, model)
        for retry in range(self.config.max_retries + 1):
            started = loop.time()
            try:
                return await self._attempt(model, body, deadline)
            except (TimeoutError, openai.APITimeoutError):  # ours, or the client's read timeout
                failure = self._timed_out(loop.time() - started, deadline)
            except Exception as error:
                failure = classify(error)
            tries = f" (attempt {retry + 1})" if self.config.max_retries else ""
            attempts.append(f"{model}: {failure.reason}{tries}")
            log.warning("model router %s: %s failed: %s", self.name, model, failure.reason)
            if failure.verdict == "fatal":
                self._refused = (failure.reason, time.monotonic() + (failure.unavailable_s or 0.0))
                raise _GiveUp
            if failure.verdict == "stop":
                raise _GiveUp
            if failure.verdict == "next" or retry == self.config.max_retries:
                return None
            if not await self._wait_before_retry(failure, retry, deadline, model, attempts):
                return None
        return None

    async def _attempt(self, model: str, body: dict[str, Any], deadline: float) -> _Opened:
        loop = asyncio.get_running_loop()
        first_by = min(deadline, loop.time() + self.config.first_token_timeout_s)
        async with asyncio.timeout_at(first_by):
            stream = await ChunkStream.open(self._client(), body)
        assembler = ChunkAssembler(model)
        try:
            while True:
                async with asyncio.timeout_at(deadline if assembler.started else first_by):
                    chunks = await stream.read()
                if chunks is None:
                    return _Opened(model, stream, assembler, assembler.finish(), done=True)
                items = assembler.feed(chunks)
                if items:
                    return _Opened(model, stream, assembler, items, done=False)
        except BaseException:
            await stream.close()
            raise

    async def _rest(self, opened: _Opened, deadline: float) -> AsyncIterator[ModelItem]:
        """The committed reply after its first items; failures now end it."""
        stream, assembler, model = opened.stream, opened.assembler, opened.model
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    chunks = await stream.read()
            except TimeoutError:
                raise ModelResponseError(
                    f"model {model!r} was still answering after timeout_s ({self.config.timeout_s:g} s)"
                ) from None
            except openai.APIError as error:
                reason = classify(error).reason
                raise ModelResponseError(f"model {model!r} broke off its answer: {reason}") from error
            if chunks is None:
                break
            for item in assembler.feed(chunks):
                yield item
        for item in assembler.finish():
            yield item

    def _timed_out(self, waited_s: float, deadline: float) -> Failure:
        if asyncio.get_running_loop().time() >= deadline:
            return Failure("stop", f"no answer within timeout_s ({self.config.timeout_s:g} s)")
        limit = self.config.first_token_timeout_s
        return Failure(
            "next", f"no first token within first_token_timeout_s ({limit:g} s, waited {waited_s:.1f} s)"
        )

    async def _wait_before_retry(
        self, failure: Failure, retry: int, deadline: float, model: str, attempts: list[str]
    ) -> bool:
        """Sleep before the next retry; ``False`` when that would pass the deadline."""
        cfg = self.config
        wait = failure.retry_after_s
        if wait is None:
            wait = backoff_s(retry, cfg.retry_backoff_s, cfg.retry_max_backoff_s)
        if asyncio.get_running_loop().time() + wait >= deadline:
            attempts.append(f"{model}: not retried, waiting {wait:g} s would pass timeout_s")
            return False
        await asyncio.sleep(wait)
        return True

    def _client(self) -> openai.AsyncOpenAI:
        # Built on first use, inside the event loop that will run the requests.
        if self._handle is None:
            self._handle = build_client(
                self.config, api_key=self._api_key, token_provider=self._token_provider
            )
        return self._handle.client
