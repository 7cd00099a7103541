"""One call's WebSocket to the realtime service: where it is, how to sign in, typed events out.

The key is passed as the ``api-key`` header to the Azure services and as a bearer token to
OpenAI; without a key, the Azure services get a Microsoft Entra ID token from
``DefaultAzureCredential`` (managed identity, workload identity, Azure CLI...), which
azure-identity caches and renews. A connection is opened per call and closed with it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from artagent_voicelive.config import OPENAI_ENDPOINT, VOICE_LIVE_API_VERSION, VoiceLiveConfig
from artagent_voicelive.events import ProtocolError, ServerError, ServerEvent, SessionCreated, decode_event

__all__ = [
    "ConnectError",
    "ConnectionLost",
    "Credentials",
    "RealtimeConnection",
    "TokenSource",
    "service_url",
]

TokenSource = Callable[[], Awaitable[str]]
"""An async function returning a bearer token (Microsoft Entra ID)."""


class ConnectError(ConnectionError):
    """The service could not be reached, refused the sign-in, or never said ``session.created``."""


class ConnectionLost(ConnectionError):
    """The service closed the connection (or it broke) while the call was going on."""


def service_url(config: VoiceLiveConfig) -> str:
    """The WebSocket URL of ``config``'s service and model."""
    base = (config.endpoint or OPENAI_ENDPOINT).rstrip("/")
    base = base.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    if config.kind == "azure-voice-live":
        query = {"api-version": config.api_version or VOICE_LIVE_API_VERSION, "model": config.model}
        return f"{base}/voice-live/realtime?{urlencode(query)}"
    if config.kind == "azure-openai-realtime" and config.api_version:
        query = {"api-version": config.api_version, "deployment": config.model}
        return f"{base}/openai/realtime?{urlencode(query)}"
    path = "/openai/v1/realtime" if config.kind == "azure-openai-realtime" else "/v1/realtime"
    return f"{base}{path}?{urlencode({'model': config.model})}"


def entra_token_source(scope: str, *, renew_before_s: float = 300.0) -> TokenSource:
    """Tokens from ``DefaultAzureCredential``, kept until ``renew_before_s`` before they expire.

    The credential is opened for each renewal and closed after it (nothing is left open when the
    worker stops); a token lasts about an hour, so a busy worker renews it once an hour.
    """
    held: list[Any] = []
    lock = asyncio.Lock()

    async def token() -> str:
        async with lock:
            if not held or held[0].expires_on - renew_before_s < time.time():
                from azure.identity.aio import DefaultAzureCredential

                async with DefaultAzureCredential() as credential:
                    held[:] = [await credential.get_token(scope)]
            return str(held[0].token)

    return token


class Credentials:
    """The sign-in headers for the service: a key, or an Entra ID token."""

    def __init__(
        self, config: VoiceLiveConfig, api_key: str | None, tokens: TokenSource | None = None
    ) -> None:
        self.config, self.api_key = config, api_key or None
        self._tokens = (
            tokens if tokens is not None or self.api_key else entra_token_source(config.entra_scope)
        )

    async def headers(self) -> dict[str, str]:
        found: dict[str, str] = {}
        if self.config.kind == "openai-realtime" and self.config.dialect == "preview":
            found["OpenAI-Beta"] = "realtime=v1"
        if self.api_key is not None and self.config.kind == "openai-realtime":
            found["Authorization"] = f"Bearer {self.api_key}"
        elif self.api_key is not None:
            found["api-key"] = self.api_key
        else:
            assert self._tokens is not None
            try:
                found["Authorization"] = f"Bearer {await self._tokens()}"
            except Exception as error:  # any sign-in failure: the call cannot connect
                raise ConnectError(
                    f"Microsoft Entra ID gave no token: {type(error).__name__}: {error}"
                ) from None
        return found


class RealtimeConnection:
    """A connected session: :meth:`send` client events, iterate :meth:`events`."""

    def __init__(self, socket: ClientConnection, created: SessionCreated) -> None:
        self._socket, self.created = socket, created

    @classmethod
    async def open(cls, config: VoiceLiveConfig, credentials: Credentials) -> RealtimeConnection:
        """Connect and wait for ``session.created``; :class:`ConnectError` says why not."""
        url = service_url(config)
        try:
            async with asyncio.timeout(config.connect_timeout_s):
                socket = await connect(
                    url, additional_headers=await credentials.headers(), open_timeout=None, max_size=None
                )
                created = await _first_event(socket)
        except ConnectError:
            raise
        except InvalidStatus as error:
            raise ConnectError(f"{url} refused the connection: HTTP {error.response.status_code}") from None
        except TimeoutError:
            raise ConnectError(
                f"{url} did not open a session within {config.connect_timeout_s:g} s"
            ) from None
        except (OSError, InvalidHandshake, ConnectionClosed) as error:
            raise ConnectError(f"cannot connect to {url}: {type(error).__name__}: {error}") from None
        return cls(socket, created)

    async def send(self, event: str) -> None:
        try:
            await self._socket.send(event)
        except ConnectionClosed as error:
            raise ConnectionLost(_closed(error)) from None

    async def events(self) -> AsyncIterator[ServerEvent]:
        """The service's events as they arrive; :class:`ConnectionLost` once it goes away."""
        while True:
            try:
                message = await self._socket.recv()
            except ConnectionClosed as error:
                raise ConnectionLost(_closed(error)) from None
            event = decode_event(message)
            if event is not None:
                yield event

    async def close(self) -> None:
        await self._socket.close()


async def _first_event(socket: ClientConnection) -> SessionCreated:
    try:
        event = decode_event(await socket.recv())
    except ProtocolError as error:
        await socket.close()
        raise ConnectError(f"the service did not speak the realtime protocol: {error}") from None
    if isinstance(event, ServerError):
        await socket.close()
        raise ConnectError(f"the service refused the session: {event.error.code}: {event.error.message}")
    if not isinstance(event, SessionCreated):
        await socket.close()
        raise ConnectError(f"the service began with {type(event).__name__}, not session.created")
    return event


def _closed(error: ConnectionClosed) -> str:
    frame = error.rcvd
    if frame is None:
        return "the connection to the realtime service broke"
    return f"the realtime service closed the connection ({frame.code}: {frame.reason or 'no reason given'})"
