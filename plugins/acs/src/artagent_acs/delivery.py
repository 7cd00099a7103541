"""Requests about a call that may reach any worker: Call Automation's callbacks and an
operator's hang-up. Acted on here when this worker hosts the call (no Redis round trip), else
forwarded to the worker that does, or kept for whoever will (:mod:`artagent_acs.routing`)."""

from __future__ import annotations

import logging
from typing import Any

from artagent_acs.callbacks import apply_callback
from artagent_acs.calls import AcsCall
from artagent_acs.metrics import AcsMetrics
from artagent_acs.routing import ForwardedCallbacks, ForwardedHangup
from artagent_acs.service import AcsService
from artagent_acs.webhooks import CallbackEvent

__all__ = ["deliver_callbacks", "request_hangup"]

log = logging.getLogger(__name__)
OVER_BEFORE_MEDIA = frozenset({"CallDisconnected", "CreateCallFailed", "AnswerFailed", "ConnectFailed"})
"""Callbacks that end a call whose media never connected: it is forgotten."""


async def deliver_callbacks(
    service: AcsService, call_id: str, events: list[CallbackEvent], metrics: AcsMetrics
) -> dict[str, Any]:
    """Apply ``events`` to the call, wherever it is hosted; the answer says what became of them."""
    call = service.calls.get(call_id)
    if call is not None and call.media_connected:
        for event in events:
            apply_callback(service, call, event)
        return {"applied": len(events)}
    route = await service.router.forward(ForwardedCallbacks(call_id=call_id, events=events))
    metrics.forwarded.labels("callbacks", route.outcome).inc()
    if route.outcome == "owned":
        return {"applied": 0, "forwarded": len(events), "worker": route.worker}
    if route.outcome == "pending":
        ended = [event.name for event in events if event.name in OVER_BEFORE_MEDIA]
        if ended:
            log.info("call %s ended before its media connected (%s): forgotten", call_id, ended[0])
            service.calls.remove(call_id)
            await service.router.forget(call_id)
            return {"applied": 0}
        return {"applied": 0, "queued": len(events)}
    return {"applied": 0}


async def request_hangup(service: AcsService, call_id: str, metrics: AcsMetrics) -> str | None:
    """End the call for everyone, wherever it is hosted; ``None`` when there is no such call."""
    call = service.calls.get(call_id)
    if call is not None and call.media_connected:
        service.end_hosted(call, "hangup_requested")
        return "hanging up"
    route = await service.router.forward(ForwardedHangup(call_id=call_id), queue_unclaimed=False)
    metrics.forwarded.labels("hangup", route.outcome).inc()
    if route.outcome == "owned":
        return f"hanging up (on worker {route.worker})"
    if route.outcome == "unowned" and route.record is not None:
        # Nobody hosts it yet (ACS has not opened its media): hang up on ACS from here.
        unhosted = call or AcsCall.from_record(route.record)
        await service.hang_up(unhosted, "hangup_requested")
        await service.forget(unhosted)
        return "hung up"
    return None
