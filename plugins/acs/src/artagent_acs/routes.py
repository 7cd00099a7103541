"""The ACS channel's HTTP and WebSocket endpoints (the accelerator's paths, so its users can
switch): Event Grid's webhook, outbound calls, Call Automation's callbacks, hang-up, the media
stream, and simulated calls for ``artagent call``."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, WebSocket, post, route, websocket
from litestar.exceptions import (
    ClientException,
    NotAuthorizedException,
    NotFoundException,
    ServiceUnavailableException,
)
from litestar.params import FromPath
from redis.exceptions import RedisError

from artagent_acs.control import CallControlUnavailable
from artagent_acs.delivery import deliver_callbacks, request_hangup
from artagent_acs.service import E164, MEDIA_PATH, AcsService
from artagent_acs.stream import run_media_stream
from artagent_acs.webhooks import (
    INCOMING_CALL,
    VALIDATION,
    IncomingCall,
    Validation,
    decode_callbacks,
    decode_grid,
    typed,
)

__all__ = ["acs_routes"]

log = logging.getLogger(__name__)
AnyRequest = Request[Any, Any, Any]
Number = Annotated[str, msgspec.Meta(max_length=64)]


class InitiateRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    target: Number
    """The number to call, E.164 (``+18005550100``)."""


class SimulateRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    caller: Number = "+15550100001"
    """The simulated caller's number (``call_started.caller``)."""
    callee: Number | None = None
    """The number called: chooses the scenario through ``[agents.numbers]``."""
    events: bool = True
    """Send the call's events over the media socket as ``ArtAgentEvent`` messages."""


def _decode(body: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ClientException(detail=f"invalid request body: {exc}") from None


def _refuse(service: AcsService, request: AnyRequest, endpoint: str, reason: str) -> NotAuthorizedException:
    service.metrics(request.app.state.runtime.registry).refused.labels(endpoint).inc()
    return NotAuthorizedException(detail=reason)


def _check_control(service: AcsService, request: AnyRequest, endpoint: str) -> None:
    host = request.client.host if request.client else None
    reason = service.control_refusal(host, request.headers.get("authorization"))
    if reason is not None:
        raise _refuse(service, request, endpoint, reason)


def _base(request: AnyRequest) -> str:
    return str(request.base_url)


def _scenario(request: AnyRequest, callee: str | None) -> str | None:
    """The scenario ``[agents]`` chooses for the number called, recorded with the call."""
    chosen = request.app.state.runtime.agents.selector.select(channel="acs", callee=callee)
    return chosen.name if chosen is not None else None


def _routing_unavailable(exc: Exception) -> ServiceUnavailableException:
    log.warning("ACS call routing (Redis) failed: %s", exc)
    return ServiceUnavailableException(detail=f"call routing (Redis) is unavailable: {exc}")


def acs_routes(service: AcsService) -> Router:
    c = service.config

    @route("/calls/answer", http_method=["POST", "OPTIONS"], status_code=200)
    async def answer(request: AnyRequest) -> Response[Any]:
        """Event Grid's webhook: the subscription validation handshake, then
        ``Microsoft.Communication.IncomingCall`` events, each answered with media streaming.
        ``OPTIONS`` is the CloudEvents schema's handshake (which origins may deliver)."""
        if request.method == "OPTIONS":
            origin = request.headers.get("webhook-request-origin", "")
            return Response(None, headers={"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*"})
        return await _deliveries(request)

    async def _deliveries(request: AnyRequest) -> Response[Any]:
        reason = service.eventgrid_refusal(
            request.query_params.get(c.eventgrid_secret_param), request.headers.get(c.eventgrid_secret_header)
        )
        if reason is not None:
            raise _refuse(service, request, "answer", reason)
        try:
            events = decode_grid(await request.body())
            incoming: list[IncomingCall] = []
            for event in events:
                if event.kind == VALIDATION:
                    return Response({"validationResponse": typed(event.data, Validation).validationCode})
                if event.kind == INCOMING_CALL:
                    incoming.append(typed(event.data, IncomingCall))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ClientException(detail=f"invalid Event Grid delivery: {exc}") from None
        return await _answer_all(service, incoming, request)

    @post("/calls/initiate", status_code=201)
    async def initiate(request: AnyRequest) -> dict[str, Any]:
        """Call an E.164 number, with media streaming to this server; returns the call id."""
        _check_control(service, request, "initiate")
        body: InitiateRequest = _decode(await request.body(), InitiateRequest)
        if not E164.match(body.target):
            raise ClientException(
                detail=f"target: {body.target!r} is not an E.164 number (+ and 7 to 15 digits)"
            )
        try:
            call = await service.initiate(body.target, _base(request), _scenario(request, body.target))
        except CallControlUnavailable as exc:
            raise ServiceUnavailableException(detail=str(exc)) from None
        except RedisError as exc:
            raise _routing_unavailable(exc) from None
        return {"call_id": call.call_id, "call_connection_id": call.connection_id}

    @post("/calls/callbacks", status_code=200)
    async def callbacks(request: AnyRequest) -> dict[str, Any]:
        """Call Automation's events for one call (its signed URL says which)."""
        call_id = request.query_params.get("call")
        reason = service.signer.check(request.query_params.get("token"), call_id, "callback")
        if reason is None:
            reason = await service.acs_refusal(request.headers.get("authorization"))
        if reason is not None:
            raise _refuse(service, request, "callbacks", reason)
        try:
            events = decode_callbacks(await request.body())
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ClientException(detail=f"invalid Call Automation events: {exc}") from None
        metrics = service.metrics(request.app.state.runtime.registry)
        for event in events:
            metrics.callbacks.labels(event.name[:64]).inc()
        assert call_id is not None  # the token check needs it
        try:
            return await deliver_callbacks(service, call_id, events, metrics)
        except RedisError as exc:  # ACS retries a callback that was not accepted
            raise _routing_unavailable(exc) from None

    @post("/calls/{call_id:str}/hangup", status_code=202)
    async def hangup(call_id: FromPath[str], request: AnyRequest) -> dict[str, Any]:
        """End a call: the agent says its farewell, then ACS hangs up for everyone."""
        _check_control(service, request, "hangup")
        try:
            metrics = service.metrics(request.app.state.runtime.registry)
            status = await request_hangup(service, call_id, metrics)
        except RedisError as exc:
            raise _routing_unavailable(exc) from None
        if status is None:
            raise NotFoundException(detail=f"no ACS call {call_id!r} (it is over, or never was)")
        return {"call_id": call_id, "status": status}

    @post("/acs/simulate", status_code=201)
    async def simulate(request: AnyRequest) -> dict[str, Any]:
        """A simulated phone call (``artagent call``, load tests): the media URL to connect to
        with the ACS media protocol. Loopback clients or the control token only."""
        _check_control(service, request, "simulate")
        raw = await request.body()
        body: SimulateRequest = _decode(raw, SimulateRequest) if raw.strip() else SimulateRequest()
        scenario = _scenario(request, body.callee)
        try:
            call = await service.new_call(
                "simulated", caller=body.caller, callee=body.callee, events=body.events, scenario=scenario
            )
        except RedisError as exc:
            raise _routing_unavailable(exc) from None
        _, media = service.urls(call, _base(request))
        return {"call_id": call.call_id, "media_url": media, "sample_rate": c.sample_rate}

    @websocket(MEDIA_PATH.removeprefix("/api/v1"))
    async def media_stream(socket: WebSocket[Any, Any, Any]) -> None:
        """ACS's bidirectional media stream of one call (``AudioData``, ``DtmfData`` in;
        ``AudioData``, ``StopAudio`` out)."""
        await run_media_stream(service, socket)

    handlers = [answer, initiate, callbacks, hangup, simulate, media_stream]
    return Router(path="/api/v1", route_handlers=handlers, tags=["acs"])


async def _answer_all(
    service: AcsService, incoming: list[IncomingCall], request: AnyRequest
) -> Response[Any]:
    """Answer each incoming call. 200 with our call ids, and the calls that could not be
    answered with why; 502 when none could (Event Grid then retries the delivery)."""
    answered: list[str] = []
    failed: list[dict[str, str]] = []
    for call in incoming:
        reason = await _answer(service, call, request, answered)
        if reason is not None:
            failed.append({"caller": call.from_.text, "callee": call.to.text, "reason": reason})
    body: dict[str, Any] = {"answered": answered, "failed": failed} if failed else {"answered": answered}
    if failed and not answered:
        body["detail"] = "could not answer the incoming call: " + "; ".join(f["reason"] for f in failed)
        return Response(body, status_code=502)
    return Response(body)


async def _answer(
    service: AcsService, incoming: IncomingCall, request: AnyRequest, answered: list[str]
) -> str | None:
    """Answer one call (its id goes to ``answered``); why not, when it could not be."""
    caller, callee = incoming.from_.text or None, incoming.to.text or None
    try:
        call = await service.answer(
            incoming.incoming_call_context, caller, callee, _base(request), _scenario(request, callee)
        )
    except CallControlUnavailable as exc:
        raise ServiceUnavailableException(detail=str(exc)) from None
    except Exception as exc:
        reason = f"{type(exc).__name__}: {_first_line(exc)}"
        log.warning("could not answer the call from %s to %s: %s", caller, callee, reason)
        return reason
    answered.append(call.call_id)
    return None


def _first_line(exc: Exception) -> str:
    """An SDK error's first line (the rest is the whole HTTP response)."""
    text = str(exc).strip() or "no detail"
    return text.splitlines()[0][:300]
