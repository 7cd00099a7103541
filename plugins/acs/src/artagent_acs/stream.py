"""``WS /api/v1/media/stream``: ACS (or ``artagent call``) connects, the call's session runs.

The socket is accepted only with the call's signed token (and ACS's JWT when configured);
anything else is closed with 1008 and the reason. The worker the socket reached then claims
the call in Redis and hosts it, whichever worker answered, placed or simulated it
(:mod:`artagent_acs.routing`); what ACS said about the call before (``CallConnected``) comes
with the claim. The call runs through ``runtime.sessions`` on an
:class:`~artagent_acs.channel.AcsMediaChannel` until it ends, and the socket is closed: 1000
after a call, 1013 when this worker takes no new calls (draining, or another worker holds the
call), 1011 when calls cannot run here.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from artagent.calls import DrainingError
from artagent.events import ParticipantJoined
from artagent.session.engine import Session
from artagent.session.launcher import SessionUnavailableError
from artagent.session.persistence import CallOwnedElsewhereError
from litestar import WebSocket
from redis.exceptions import RedisError

from artagent_acs.calls import AcsCall
from artagent_acs.channel import AcsMediaChannel, event_observer
from artagent_acs.routing import Forwarded
from artagent_acs.service import AcsService

__all__ = ["run_media_stream"]

log = logging.getLogger(__name__)


def _purpose(service: AcsService, token: str | None, call_id: str | None) -> tuple[str, str | None]:
    """What the token opens (``media`` for ACS, ``simulated`` for ``artagent call``), or why
    it opens nothing."""
    reason = service.signer.check(token, call_id, "media")
    if reason is None:
        return "media", None
    simulated = service.signer.check(token, call_id, "simulated")
    if simulated is None or reason == "invalid token":
        return "simulated", simulated
    return "media", reason


async def _admit(
    service: AcsService, socket: WebSocket[Any, Any, Any], worker: str
) -> tuple[AcsCall | None, list[Forwarded], str | None]:
    """The call this socket carries, claimed for this worker, with what was said about it
    before (``CallConnected``); or why the socket is refused."""
    call_id, token = socket.query_params.get("call"), socket.query_params.get("token")
    purpose, reason = _purpose(service, token, call_id)
    if reason is None and purpose == "media":
        reason = await service.acs_refusal(socket.headers.get("authorization"))
    if reason is not None or call_id is None:
        return None, [], reason or "missing call or token"
    await service.inbox.hold(worker)  # before the claim: nothing forwarded after it is missed
    try:
        claim = await service.router.claim(call_id, worker)
    except BaseException:
        await service.inbox.release()
        raise
    if claim.record is None:
        await service.inbox.release()
        if claim.owner is not None:
            return None, [], "this call's media is already connected"
        return None, [], "unknown call (answer or simulate it first)"
    call = service.calls.get(call_id) or service.calls.add(AcsCall.from_record(claim.record))
    call.media_connected = True
    return call, claim.pending, None


async def _close(socket: WebSocket[Any, Any, Any], code: int, reason: str) -> None:
    try:
        await socket.close(code, reason.encode()[:120].decode(errors="ignore"))
    except Exception:  # already closed by the far side
        pass


def _channel(
    service: AcsService, socket: WebSocket[Any, Any, Any], call: AcsCall, runtime: Any
) -> AcsMediaChannel:
    c = service.config

    async def on_dtmf(digits: str) -> None:
        await service.dtmf(call, digits)

    async def on_hangup(reason: str) -> None:
        await service.hang_up(call, reason)

    async def on_transfer(target: str | None, reason: str) -> bool:
        return await service.transfer(call, target, reason)

    return AcsMediaChannel(
        socket,
        call,
        sample_rate=c.sample_rate,
        media_timeout_s=c.media_timeout_s,
        metrics=service.metrics(runtime.registry),
        on_dtmf=on_dtmf,
        on_hangup=on_hangup,
        on_transfer=on_transfer,
        dtmf_pause_s=c.dtmf_pause_s,
        send_ms=c.send_ms,
    )


async def _run(service: AcsService, call: AcsCall, channel: AcsMediaChannel, runtime: Any) -> tuple[int, str]:
    def started(session: Session) -> None:
        if call.direction == "simulated" and call.caller:
            call.emit(ParticipantJoined, participant_id=call.caller, role="caller")
        call.attach(session)

    observer = event_observer(channel, msgspec.json.encode) if call.events else None
    try:
        await runtime.sessions.run(
            call.call_id,
            channel,
            channel_name="acs",
            caller=call.caller,
            callee=call.callee,
            observer=observer,
            on_start=started,
        )
    except (DrainingError, CallOwnedElsewhereError) as exc:
        return 1013, str(exc)
    except SessionUnavailableError as exc:
        return 1011, str(exc)
    except Exception as exc:
        log.exception("call %s failed", call.call_id)
        return 1011, f"internal error: {type(exc).__name__}"
    return 1000, "call ended"


async def run_media_stream(service: AcsService, socket: WebSocket[Any, Any, Any]) -> None:
    runtime = socket.app.state.runtime
    metrics = service.metrics(runtime.registry)
    try:
        call, pending, reason = await _admit(service, socket, runtime.worker)
    except (RedisError, OSError) as exc:
        log.warning("media socket refused: call routing (Redis) failed: %s", exc)
        await socket.accept()
        await _close(socket, 1011, "call routing unavailable")
        return
    if reason is not None or call is None:
        await socket.accept()
        metrics.refused.labels("media").inc()
        await _close(socket, 1008, reason or "refused")
        return
    try:  # the call is claimed: whatever happens now, it is released at the end
        await socket.accept()
        code, why, timed_out = await _host(service, socket, call, pending, runtime)
    finally:
        await _forget(service, call)
    if code != 1000 or timed_out:
        await service.hang_up(call, "media_timeout" if timed_out else "refused")
    await _close(socket, code, why)


async def _host(
    service: AcsService,
    socket: WebSocket[Any, Any, Any],
    call: AcsCall,
    pending: list[Forwarded],
    runtime: Any,
) -> tuple[int, str, bool]:
    """Run the call on this worker; the close code, its reason, and whether the media timed out."""
    metrics = service.metrics(runtime.registry)
    channel = _channel(service, socket, call, runtime)
    call.channel = channel
    channel.start()
    for message in pending:  # what ACS said before the media came (CallConnected)
        await service.on_forwarded(message)
    if call.disconnected:  # ACS said so while the socket was being accepted
        channel.end()
    metrics.streams.inc()
    try:
        code, why = await _run(service, call, channel, runtime)
        await channel.finish_events()
    finally:
        await channel.close()
        metrics.streams.dec()
        call.channel = None
    return code, why, channel.timed_out


async def _forget(service: AcsService, call: AcsCall) -> None:
    """The call is over: requests about it are now answered as for an unknown call, and this
    worker reads its inbox only while it hosts other calls."""
    try:
        await service.forget(call)
    except (RedisError, OSError) as exc:  # its record expires by itself
        log.warning("could not forget call %s in Redis: %s", call.call_id, exc)
    finally:
        await service.inbox.release()
