"""The ACS channel of one worker: its calls, the URLs it hands to ACS, and what it does when ACS
or an operator asks (answer, call out, hang up, transfer, record).

Built once by ``register_routes`` from ``[plugins.acs]``; the routes and the media socket share
it. Every call is also recorded in Redis (:mod:`artagent_acs.routing`), so that whichever
worker its media socket reaches can host it and requests reaching other workers are forwarded
to that one. Nothing here runs per audio frame.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections.abc import Coroutine, Mapping
from typing import Any
from urllib.parse import quote

from artagent.events import DtmfReceived, ErrorOccurred, ParticipantJoined, RecordingStarted
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from uuid_utils import uuid7

from artagent_acs.callbacks import apply_callback
from artagent_acs.calls import AcsCall, CallBook, Direction
from artagent_acs.config import AcsConfig
from artagent_acs.control import CallControl
from artagent_acs.jwtauth import AcsJwtValidator
from artagent_acs.metrics import AcsMetrics
from artagent_acs.routing import CallRouter, Forwarded, ForwardedCallbacks, ForwardedHangup, WorkerInbox
from artagent_acs.tokens import UrlSigner

__all__ = ["E164", "AcsService"]

log = logging.getLogger(__name__)
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MEDIA_PATH = "/api/v1/media/stream"
CALLBACK_PATH = "/api/v1/calls/callbacks"


def _secret(secrets: Mapping[str, str], key: str) -> str | None:
    return secrets.get(key) or None


class AcsService:
    def __init__(self, config: AcsConfig, secrets: Mapping[str, str], redis: Redis) -> None:
        self.config = config
        signing = _secret(secrets, "signing_key_env")
        self.signer = UrlSigner(signing.encode() if signing else None, ttl_s=config.token_ttl_s)
        self.jwt = (
            AcsJwtValidator(config.jwt_openid_config_url, config.jwt_audience, issuer=config.jwt_issuer)
            if config.jwt_audience
            else None
        )
        self.eventgrid_secret = _secret(secrets, "eventgrid_secret_env")
        self.control_token = _secret(secrets, "control_token_env")
        self.control = CallControl(
            config, _secret(secrets, "key_env"), _secret(secrets, "connection_string_env")
        )
        self.calls = CallBook(stale_s=max(120.0, config.media_timeout_s * 6))
        """The calls this worker created (until pruned) or hosts."""
        self.router = CallRouter(redis, unclaimed_ttl_s=self.calls.stale_s, claimed_ttl_s=config.token_ttl_s)
        self.inbox = WorkerInbox(redis, self.on_forwarded)
        self._metrics: AcsMetrics | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def metrics(self, registry: CollectorRegistry) -> AcsMetrics:
        """The channel's metrics, registered in the runtime's registry on first use."""
        if self._metrics is None:
            self._metrics = AcsMetrics(registry)
        return self._metrics

    # -- URLs and their tokens ---------------------------------------------------------------
    def base_url(self, request_base: str) -> str:
        return (self.config.public_url or request_base).rstrip("/")

    def urls(self, call: AcsCall, request_base: str) -> tuple[str, str]:
        """The callback URL and the media WebSocket URL of ``call``, each with its token."""
        base, cid = self.base_url(request_base), quote(call.call_id)
        media_purpose = "simulated" if call.direction == "simulated" else "media"
        ws_base = "ws" + base[4:] if base.startswith("http") else base
        callback = f"{base}{CALLBACK_PATH}?call={cid}&token={self.signer.issue(call.call_id, 'callback')}"
        media = f"{ws_base}{MEDIA_PATH}?call={cid}&token={self.signer.issue(call.call_id, media_purpose)}"
        return callback, media

    async def new_call(
        self,
        direction: Direction,
        *,
        caller: str | None,
        callee: str | None,
        events: bool = False,
        scenario: str | None = None,
    ) -> AcsCall:
        """A call of this worker, recorded in Redis (so any worker can host its media)."""
        call = AcsCall(
            call_id=f"acs-{uuid7()}", direction=direction, caller=caller, callee=callee,
            scenario=scenario, events=events,
        )  # fmt: skip
        self.calls.add(call)
        try:
            await self.router.record(call.record())
        except BaseException:
            self.calls.remove(call.call_id)
            raise
        return call

    async def forget(self, call: AcsCall) -> None:
        """The call is over (or never was): here and in Redis."""
        self.calls.remove(call.call_id)
        await self.router.forget(call.call_id)

    # -- who may ask -------------------------------------------------------------------------
    def control_refusal(self, client_host: str | None, authorization: str | None) -> str | None:
        """``None`` when an operator request (initiate, hang-up, simulate) is allowed, else why not."""
        access = self.config.control_access
        if access == "off":
            return "call control over HTTP is off (plugins.acs.control_access)"
        token = self.control_token
        if token and authorization == f"Bearer {token}":
            return None
        if access == "loopback" and _is_loopback(client_host):
            return None
        if access == "token" and not token:
            return "no control token is configured (plugins.acs.control_token_env)"
        return "this endpoint needs the control bearer token or a loopback client"

    def eventgrid_refusal(self, query_secret: str | None, header_secret: str | None) -> str | None:
        expected = self.eventgrid_secret
        if expected is None or expected in (query_secret, header_secret):
            return None
        return "missing or wrong Event Grid secret"

    async def acs_refusal(self, authorization: str | None) -> str | None:
        """ACS's own JWT, when ``jwt_audience`` is configured."""
        return None if self.jwt is None else await self.jwt.check(authorization)

    # -- what ACS or an operator asks --------------------------------------------------------
    async def answer(
        self, context: str, caller: str | None, callee: str | None, request_base: str, scenario: str | None
    ) -> AcsCall:
        call = await self.new_call("inbound", caller=caller, callee=callee, scenario=scenario)
        callback, media = self.urls(call, request_base)
        try:
            props = await self.control.answer(context, callback, media, call.call_id)
        except BaseException:
            await self.forget(call)
            raise
        await self._linked(call, props)
        log.info(
            "answered %s (connection %s) from %s to %s", call.call_id, call.connection_id, caller, callee
        )
        return call

    async def initiate(self, target: str, request_base: str, scenario: str | None) -> AcsCall:
        caller = self.config.caller_id or None
        call = await self.new_call("outbound", caller=caller, callee=target, scenario=scenario)
        callback, media = self.urls(call, request_base)
        try:
            props = await self.control.create(target, callback, media, call.call_id)
        except BaseException:
            await self.forget(call)
            raise
        await self._linked(call, props)
        return call

    async def _linked(self, call: AcsCall, props: Any) -> None:
        """ACS's ids for the call, here and in its record (its host may be another worker)."""
        self.calls.link(call, props.call_connection_id, props.server_call_id)
        await self.router.update(call.record())

    async def connection_of(self, call: AcsCall) -> str | None:
        """ACS's connection id; read again from the call's record when this worker has none
        (the media came before the answering worker learnt it)."""
        if call.connection_id is None and call.direction != "simulated":
            record = await self.router.load(call.call_id)
            if record is not None and record.connection_id:
                self.calls.link(call, record.connection_id, record.server_call_id)
        return call.connection_id

    async def hang_up(self, call: AcsCall, reason: str) -> None:
        """Hang up on ACS for everyone (once; not for simulated calls or ones already gone)."""
        if call.disconnected or not self.control.enabled:
            return
        connection_id = await self.connection_of(call)
        if connection_id:
            call.disconnected = True
            try:
                await self.control.hang_up(connection_id)
            except Exception as exc:
                log.warning("hang-up of %s failed: %s", call.call_id, exc)
                call.emit(ErrorOccurred, kind=type(exc).__name__, message=str(exc), stage="hangup")

    async def transfer(self, call: AcsCall, target: str | None, reason: str) -> bool:
        """Transfer to ``[plugins.acs] transfer_target`` (else the agent's target) and wait for
        ACS's verdict. Raising makes the session report ``error_occurred`` and apologise."""
        to = self.config.transfer_target or target
        if not to:
            raise RuntimeError("no transfer target is configured (plugins.acs.transfer_target)")
        if call.direction == "simulated":
            call.emit(ParticipantJoined, participant_id=to, role="transfer_target")
            return True
        connection_id = await self.connection_of(call)
        if not connection_id:
            raise RuntimeError(f"call {call.call_id} has no ACS connection to transfer")
        verdict: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        call.transfer = verdict
        try:
            await self.control.transfer(connection_id, to, call.call_id)
            return await asyncio.wait_for(verdict, self.config.transfer_timeout_s)
        except TimeoutError:
            raise TimeoutError(
                f"ACS did not confirm the transfer within {self.config.transfer_timeout_s:g} s"
            ) from None
        finally:
            call.transfer = None

    async def dtmf(self, call: AcsCall, digits: str) -> None:
        call.emit(DtmfReceived, digits=digits)
        if call.session is not None:
            await call.session.submit_text(digits, source="dtmf")

    def end_hosted(self, call: AcsCall, reason: str, *, farewell: bool = True) -> None:
        """End a call this worker hosts: politely through its session (the farewell unless
        ``farewell`` is False, then ACS hangs up), or at once on ACS when its session is not
        running yet."""
        if call.session is not None:
            self.background(call.session.end(reason, farewell=farewell), name=f"end-{call.call_id}")
        else:
            self.background(self.hang_up(call, reason), name=f"hangup-{call.call_id}")
            if call.channel is not None:
                call.channel.end()

    async def on_forwarded(self, message: Forwarded) -> None:
        """A request about a call this worker hosts, forwarded by the worker it reached."""
        call = self.calls.get(message.call_id)
        if self._metrics is not None:
            self._metrics.forwarded.labels(message.kind(), "received").inc()
        if call is None or not call.media_connected:
            log.info("forwarded %s for %s: the call is not here (over)", message.kind(), message.call_id)
            return
        try:
            if isinstance(message, ForwardedCallbacks):
                for event in message.events:
                    apply_callback(self, call, event)
            elif isinstance(message, ForwardedHangup):
                self.end_hosted(call, message.reason)
        except Exception:  # one bad request must not end the call or stop the inbox
            log.exception("applying a forwarded %s to %s failed", message.kind(), call.call_id)

    def start_recording(self, call: AcsCall) -> None:
        if self.config.record and call.connection_id and self.control.enabled:
            self.background(self._record(call), name=f"record-{call.call_id}")

    async def _record(self, call: AcsCall) -> None:
        assert call.connection_id is not None
        try:
            recording_id = await self.control.start_recording(call.connection_id)
        except Exception as exc:
            log.warning("recording of %s failed: %s", call.call_id, exc)
            call.emit(ErrorOccurred, kind=type(exc).__name__, message=str(exc), stage="recording")
            return
        call.emit(RecordingStarted, recording_id=recording_id)

    def background(self, coro: Coroutine[Any, Any, Any], *, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.control.close()


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
