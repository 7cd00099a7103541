"""``WS /api/v1/browser/conversation?token=...``: one call between the page and the agents.

The socket is accepted first, so that every refusal reaches the page as a close code with a
reason (a refused handshake would only show the browser a bare 1006). Then three tasks run:
the call itself (``runtime.sessions.run``), the reader (page messages to the channel, each
checked against the connection's limits) and the writer (:class:`~artagent_browser.channel.Outbound`).
The call ends when the caller hangs up, disconnects or breaks the protocol, or when the agent
ends it; the page gets ``ended`` and a 1000 close in the normal cases.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from artagent.agents.selection import UnknownScenarioError
from artagent.audio import FrameSplitter
from artagent.calls import DrainingError
from artagent.session.engine import Session
from artagent.session.launcher import SessionUnavailableError
from artagent.session.persistence import CallOwnedElsewhereError
from litestar import WebSocket
from redis.exceptions import RedisError

from artagent_browser import protocol
from artagent_browser.channel import BrowserChannel, Outbound
from artagent_browser.limits import MessageGuard
from artagent_browser.protocol import (
    CLOSE_INTERNAL,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_TRY_LATER,
    Hangup,
    ProtocolError,
    TypedText,
)
from artagent_browser.service import BrowserService
from artagent_browser.tokens import SessionClaims, TokenError

__all__ = ["converse"]

log = logging.getLogger(__name__)

_REFUSALS: Mapping[type[Exception], int] = {
    UnknownScenarioError: CLOSE_POLICY,
    SessionUnavailableError: CLOSE_INTERNAL,
    DrainingError: CLOSE_TRY_LATER,
    CallOwnedElsewhereError: CLOSE_TRY_LATER,
}


async def converse(socket: WebSocket[Any, Any, Any], service: BrowserService) -> None:
    """Run one conversation on an incoming WebSocket."""
    await socket.accept()
    try:
        claims = await service.tokens.redeem(socket.query_params.get("token"))
    except TokenError as exc:
        await socket.close(CLOSE_POLICY, protocol.close_reason(str(exc)))
        return
    except RedisError:
        log.exception("cannot check a browser session token")
        await socket.close(CLOSE_TRY_LATER, "cannot check the session token now: try again")
        return
    await _Conversation(socket, service, claims).run()


class _Conversation:
    def __init__(
        self, socket: WebSocket[Any, Any, Any], service: BrowserService, claims: SessionClaims
    ) -> None:
        self.socket, self.claims, self.limits = socket, claims, service.config.limits
        self.runtime = socket.app.state.runtime
        self.outbound = Outbound(socket, max_pending=self.limits.max_pending_frames)
        self.channel = BrowserChannel(
            self.outbound, self.runtime.catalogue.encode, call_id=claims.call_id, scenario=claims.scenario
        )
        self.guard = MessageGuard(self.limits)
        self.session: Session | None = None

    async def run(self) -> None:
        writer = asyncio.create_task(self.outbound.run(), name=f"browser-writer-{self.claims.call_id}")
        call = asyncio.create_task(self._call(), name=f"browser-call-{self.claims.call_id}")
        reader = asyncio.create_task(self._read(), name=f"browser-reader-{self.claims.call_id}")
        try:
            await asyncio.wait({call, reader}, return_when=asyncio.FIRST_COMPLETED)
            self.channel.leave()  # the page is done (or refused): the call ends as a hang-up
            await call
        finally:
            self.channel.leave()  # also when the server stops under us: the call must not linger
            reader.cancel()
            self.outbound.close(CLOSE_NORMAL, "call ended")
            await asyncio.gather(reader, return_exceptions=True)
            await writer

    async def _call(self) -> None:
        """The call, start to end; a refusal or failure closes the socket with its code."""
        try:
            await self.runtime.sessions.run(
                self.claims.call_id,
                self.channel,
                channel_name="browser",
                scenario=self.claims.scenario,
                caller=self.claims.user,
                observer=self.channel.observe,
                on_start=self._started,
            )
        except tuple(_REFUSALS) as exc:
            code = next(code for kind, code in _REFUSALS.items() if isinstance(exc, kind))
            self.outbound.close(code, str(exc))
            return
        except Exception:
            log.exception("browser call %s failed", self.claims.call_id)
            self.outbound.close(CLOSE_INTERNAL, "the call failed on the server")
            return
        reason = self.channel.ended_reason or self.channel.hangup_reason or "caller_hangup"
        self.outbound.text(protocol.ended(reason))
        self.outbound.close(CLOSE_NORMAL, reason)

    def _started(self, session: Session) -> None:
        self.session = session

    async def _read(self) -> None:
        """Page messages until it leaves; a message breaking the protocol closes the socket."""
        splitter = FrameSplitter()
        try:
            while True:
                message: Mapping[str, Any] = await self.socket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data, text = message.get("bytes"), message.get("text")
                if isinstance(data, bytes):
                    await self._audio(data, splitter)
                elif await self._control(text if isinstance(text, str) else ""):
                    return
        except ProtocolError as exc:
            log.info("browser call %s refused a message: %s", self.claims.call_id, exc.reason)
            self.outbound.close(exc.code, exc.reason, drain=False)

    async def _audio(self, data: bytes, splitter: FrameSplitter) -> None:
        self.guard.check(len(data))
        self.guard.check_audio(data)
        for frame in splitter.feed(data):
            await self.channel.caller_audio(frame)

    async def _control(self, text: str) -> bool:
        """Handle one JSON message; ``True`` when the caller hung up."""
        self.guard.check(len(text.encode()))
        message = protocol.decode_client(text, max_text_chars=self.limits.max_text_chars)
        if isinstance(message, Hangup):
            return True
        assert isinstance(message, TypedText)
        await self.channel.running.wait()
        if self.session is not None:
            await self.session.submit_text(message.text)
        return False
