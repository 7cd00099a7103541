"""Call Automation's mid-call events, mapped to our events and to what the call does next.

They are applied on the worker hosting the call (its media socket's worker): a callback posted
to another worker is forwarded there first (:mod:`artagent_acs.routing`).

| ACS event | here |
|---|---|
| ``CallConnected`` | the call is up; recording starts when configured (``recording_started``) |
| ``ParticipantsUpdated`` | ``participant_joined`` for each participant not seen before |
| ``CallDisconnected`` | the caller's media ends: the session finishes (``caller_hangup``) |
| ``CallTransferAccepted`` / ``Failed`` | the pending transfer succeeds (our leg ends) or is apologised for |
| ``MediaStreamingStarted`` / ``Stopped`` | ``acs_media_streaming_changed`` |
| ``MediaStreamingFailed`` | that, ``error_occurred`` (stage ``media``); the call ends, no farewell |
| ``PlayCompleted`` / ``PlayFailed`` | ``acs_play_completed`` / ``error_occurred`` (stage ``play``) |
| ``RecognizeCompleted`` (DTMF) | the keys reach the agent (``dtmf_received``) |
| ``RecognizeFailed`` | ``error_occurred`` (stage ``recognize``) |
| ``CreateCallFailed`` / ``AnswerFailed`` / ``ConnectFailed`` | ``error_occurred`` (stage ``connect``) |
| others | counted only |
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from artagent.events import ErrorOccurred, ParticipantJoined

from artagent_acs.calls import AcsCall
from artagent_acs.events import AcsMediaStreamingChanged, AcsPlayCompleted
from artagent_acs.webhooks import TONES, CallbackEvent

if TYPE_CHECKING:
    from artagent_acs.service import AcsService

__all__ = ["HANDLED", "apply_callback"]

log = logging.getLogger(__name__)
Handler = Callable[["AcsService", AcsCall, CallbackEvent], None]


def _failure(event: CallbackEvent, default: str) -> str:
    info = event.data.result_information
    if info is None:
        return default
    return f"{info.message or default} (code {info.code}, subcode {info.sub_code})"


def _error(call: AcsCall, event: CallbackEvent, stage: str, *, recoverable: bool) -> None:
    message = _failure(event, f"{event.name} from ACS")
    call.emit(ErrorOccurred, kind=event.name, message=message, stage=stage, recoverable=recoverable)


def _settle_transfer(call: AcsCall, accepted: bool) -> None:
    if call.transfer is not None and not call.transfer.done():
        call.transfer.set_result(accepted)


def _connected(service: AcsService, call: AcsCall, event: CallbackEvent) -> None:
    call.connected = True
    service.start_recording(call)


def _participants(service: AcsService, call: AcsCall, event: CallbackEvent) -> None:
    for participant in event.data.participants:
        raw = participant.identifier.raw_id
        if not raw or raw in call.participants:
            continue
        text = participant.identifier.text
        if not call.participants and text in (call.caller, call.callee):
            role = "caller"
        elif text == service.config.transfer_target:
            role = "transfer_target"
        else:
            role = "caller" if text == call.caller else "participant"
        call.participants.add(raw)
        call.emit(ParticipantJoined, participant_id=raw, role=role)


def _disconnected(service: AcsService, call: AcsCall, event: CallbackEvent) -> None:
    call.disconnected = True
    _settle_transfer(call, False)
    if call.channel is not None:
        call.channel.end()


def _transfer_accepted(service: AcsService, call: AcsCall, event: CallbackEvent) -> None:
    _settle_transfer(call, True)


def _transfer_failed(service: AcsService, call: AcsCall, event: CallbackEvent) -> None:
    _error(call, event, "transfer", recoverable=True)
    _settle_transfer(call, False)


def _streaming(status: str) -> Handler:
    def handle(service: AcsService, call: AcsCall, event: CallbackEvent) -> None:
        update, info = event.data.media_streaming_update, event.data.result_information
        call.emit(
            AcsMediaStreamingChanged,
            status=status,
            details=update.media_streaming_status_details if update else "",
            content_type=update.content_type if update else "",
            code=info.code if info else None,
            message=info.message if info else "",
        )
        if status == "failed":
            _error(call, event, "media", recoverable=False)
            service.end_hosted(call, "media_failed", farewell=False)  # the caller cannot hear it

    return handle


def _play_completed(service: AcsService, call: AcsCall, event: CallbackEvent) -> None:
    call.emit(AcsPlayCompleted, operation_context=event.data.operation_context or "")


def _failed(stage: str, *, recoverable: bool) -> Handler:
    def handle(service: AcsService, call: AcsCall, event: CallbackEvent) -> None:
        _error(call, event, stage, recoverable=recoverable)

    return handle


def _recognized(service: AcsService, call: AcsCall, event: CallbackEvent) -> None:
    result = event.data.dtmf_result
    digits = "".join(TONES.get(tone.lower(), "") for tone in result.tones) if result else ""
    if digits.rstrip("#"):
        service.background(service.dtmf(call, digits.rstrip("#")), name=f"dtmf-{call.call_id}")


HANDLED: dict[str, Handler] = {
    "CallConnected": _connected,
    "ParticipantsUpdated": _participants,
    "CallDisconnected": _disconnected,
    "CallTransferAccepted": _transfer_accepted,
    "CallTransferFailed": _transfer_failed,
    "MediaStreamingStarted": _streaming("started"),
    "MediaStreamingStopped": _streaming("stopped"),
    "MediaStreamingFailed": _streaming("failed"),
    "PlayCompleted": _play_completed,
    "PlayFailed": _failed("play", recoverable=True),
    "RecognizeCompleted": _recognized,
    "RecognizeFailed": _failed("recognize", recoverable=True),
    "CreateCallFailed": _failed("connect", recoverable=False),
    "AnswerFailed": _failed("connect", recoverable=False),
    "ConnectFailed": _failed("connect", recoverable=False),
}
"""What each Call Automation event does to the call it is about."""


def apply_callback(service: AcsService, call: AcsCall, event: CallbackEvent) -> None:
    """One event about ``call``, on the worker hosting it."""
    data = event.data
    if data.call_connection_id and call.connection_id is None:
        service.calls.link(call, data.call_connection_id, data.server_call_id or None)
    handler = HANDLED.get(event.name)
    if handler is not None:
        handler(service, call, event)
    else:
        log.debug("ACS %s for %s", event.name, call.call_id)
