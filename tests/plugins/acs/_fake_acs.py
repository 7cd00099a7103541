"""A local stand-in for Azure Communication Services, driven by the real Call Automation SDK.

REST side: it serves the Call Automation endpoints the channel uses (answer, create, transfer,
terminate, start recording) and checks each request's HMAC-SHA256 signature exactly as ACS
does (content hash, string to sign ``VERB\\npath?query\\ndate;host;hash``, the resource key),
refusing a bad one with 401; it records every body. Call side: once a call is answered or
created it behaves like ACS: it posts ``CallConnected`` to the callback URL, opens the media
WebSocket to the transport URL as the phone's stream, and on a transfer posts
``CallTransferAccepted`` (or ``Failed``) then ``CallDisconnected``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web
from artagent_acs.simulator.client import MediaClient

JSON = web.RequestKey("json", dict)
KEY = base64.b64encode(b"fake-acs-resource-key-0123456789").decode()


@dataclass
class FakeCall:
    connection_id: str
    callback_url: str
    media_url: str
    body: dict[str, Any]
    phone: MediaClient | None = None
    terminated: bool = False


@dataclass
class FakeAcs:
    transfer_succeeds: bool = True
    bearer: Any = None
    tls: ssl.SSLContext | None = None
    """Serve over TLS (Entra ID tokens are only ever sent over https)."""
    entra_tokens: set[str] = field(default_factory=set)
    """Microsoft Entra ID tokens accepted (``Authorization: Bearer``) instead of an HMAC signature."""
    """A function returning ACS's JWT, sent on callbacks and the media handshake (None: none)."""
    media_route: Callable[[str], str] | None = None
    """Where the media WebSocket really goes (a load balancer sending it to another worker than
    the one that answered); None: the transport URL as given."""
    refuse_answer: str | None = None
    """Refuse ``answer`` (400 with this message), as ACS does when the call is gone."""
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """(method, path, JSON body) of every signed request, in order."""
    refused: list[str] = field(default_factory=list)
    calls: dict[str, FakeCall] = field(default_factory=dict)
    url: str = ""
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _runner: web.AppRunner | None = None

    # -- the signature -----------------------------------------------------------------------
    def _verify(self, request: web.Request, body: bytes) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return None if auth[len("Bearer ") :] in self.entra_tokens else "unknown Entra ID token"
        date, content_hash = (
            request.headers.get("x-ms-date", ""),
            request.headers.get("x-ms-content-sha256", ""),
        )
        expected_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if content_hash != expected_hash:
            return "content hash does not match the body"
        prefix = "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="
        if not auth.startswith(prefix) or not date:
            return "missing HMAC-SHA256 authorization"
        path = request.rel_url.raw_path + (
            f"?{request.rel_url.raw_query_string}" if request.rel_url.raw_query_string else ""
        )
        to_sign = f"{request.method}\n{path}\n{date};{request.host};{content_hash}"
        digest = hmac.new(base64.b64decode(KEY), to_sign.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(auth[len(prefix) :], base64.b64encode(digest).decode()):
            return "signature does not match"
        return None

    @web.middleware
    async def _signed(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        problem = self._verify(request, body)
        if problem is not None:
            self.refused.append(problem)
            return web.json_response({"error": {"code": "Denied", "message": problem}}, status=401)
        if "api-version" not in request.query:
            return web.json_response({"error": {"message": "api-version is required"}}, status=400)
        parsed = json.loads(body) if body else {}
        self.requests.append((request.method, request.path, parsed))
        request[JSON] = parsed
        response: web.StreamResponse = await handler(request)
        return response

    # -- the endpoints -----------------------------------------------------------------------
    def _connection(self, body: dict[str, Any]) -> FakeCall:
        connection_id = f"conn-{next(self._ids)}"
        streaming = body.get("mediaStreamingOptions") or {}
        call = FakeCall(connection_id, body["callbackUri"], streaming.get("transportUrl", ""), body)
        self.calls[connection_id] = call
        return call

    def _properties(self, call: FakeCall, state: str) -> dict[str, Any]:
        return {"callConnectionId": call.connection_id, "serverCallId": f"server-{call.connection_id}",
                "callbackUri": call.callback_url, "callConnectionState": state,
                "correlationId": f"corr-{call.connection_id}"}  # fmt: skip

    async def _answer(self, request: web.Request) -> web.Response:
        if self.refuse_answer is not None:
            error = {"code": "8523", "message": self.refuse_answer}
            return web.json_response({"error": error}, status=400)
        call = self._connection(request[JSON])
        self._later(self._connect(call))
        return web.json_response(self._properties(call, "connecting"), status=200)

    async def _create(self, request: web.Request) -> web.Response:
        call = self._connection(request[JSON])
        self._later(self._connect(call))
        return web.json_response(self._properties(call, "connecting"), status=201)

    async def _transfer(self, request: web.Request) -> web.Response:
        call = self.calls[request.match_info["cid"]]
        self._later(self._settle_transfer(call))
        return web.json_response({"operationContext": request[JSON].get("operationContext")}, status=202)

    async def _terminate(self, request: web.Request) -> web.Response:
        call = self.calls[request.match_info["cid"]]
        call.terminated = True
        self._later(self._disconnect(call))
        return web.Response(status=204)

    async def _record(self, request: web.Request) -> web.Response:
        return web.json_response({"recordingId": "rec-1", "recordingState": "active"}, status=200)

    # -- behaving like ACS -------------------------------------------------------------------
    async def callback(self, call: FakeCall, name: str, **data: Any) -> httpx.Response:
        cid = call.connection_id
        event = {"id": f"ev-{next(self._ids)}", "source": f"calling/callConnections/{cid}",
                 "type": f"Microsoft.Communication.{name}", "specversion": "1.0",
                 "data": {"callConnectionId": cid, "serverCallId": f"server-{cid}",
                          "correlationId": f"corr-{cid}", **data}}  # fmt: skip
        async with httpx.AsyncClient() as client:
            return await client.post(call.callback_url, json=[event], headers=self._headers())

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer()}"} if self.bearer is not None else {}

    async def _connect(self, call: FakeCall) -> None:
        await self.callback(call, "CallConnected")
        rate = 24000 if call.body["mediaStreamingOptions"]["audioFormat"] == "pcm24KMono" else 16000
        url = self.media_route(call.media_url) if self.media_route is not None else call.media_url
        call.phone = await MediaClient.open(url, sample_rate=rate, headers=self._headers())
        await self.callback(call, "ParticipantsUpdated", participants=[
            {"identifier": {"rawId": "4:+15550100001", "kind": "phoneNumber",
                            "phoneNumber": {"value": "+15550100001"}}, "isMuted": False}])  # fmt: skip

    async def _settle_transfer(self, call: FakeCall) -> None:
        await asyncio.sleep(0.05)
        if self.transfer_succeeds:
            await self.callback(call, "CallTransferAccepted")
            await self._disconnect(call)
        else:
            await self.callback(call, "CallTransferFailed", resultInformation={
                "code": 500, "subCode": 7000, "message": "The transfer target did not answer."})  # fmt: skip

    async def _disconnect(self, call: FakeCall) -> None:
        await self.callback(call, "CallDisconnected")
        if call.phone is not None:
            await call.phone.drop()

    def _later(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- life --------------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application(middlewares=[self._signed])
        app.router.add_post("/calling/callConnections:answer", self._answer)
        app.router.add_post("/calling/callConnections", self._create)
        app.router.add_post(r"/calling/callConnections/{cid}:transferToParticipant", self._transfer)
        app.router.add_post(r"/calling/callConnections/{cid}:terminate", self._terminate)
        app.router.add_post("/calling/recordings", self._record)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.tls)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        for call in self.calls.values():
            if call.phone is not None:
                await call.phone.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    def bodies(self, path_end: str) -> list[dict[str, Any]]:
        return [body for _, path, body in self.requests if path.endswith(path_end)]
