"""Call Automation's mid-call events, mapped to our events and to what the call does next.

They are applied on the worker hosting the call (its media socket's worker): a callback posted
to another worker is forwarded there first (:mod:`artagent_acs.routing`).

| ACS event | here |
|---|---|
| ``CallConnected`` | the call is up; recording starts when configured (``recording_started``) |
| ``ParticipantsUpdated`` | ``participant_joined`` for each participant not seen before |
| ``CallDisconnected`` | the caller's media ends: the session finishes (``caller_hangup``) |
| ``CallTransferAccepted`` / ``Failed`` | the pending transfer succeeds (our leg ends) or is apologised for |
| ``MediaStreamingFailed`` | ``error_occurred`` (stage ``media``) and the call ends |
| ``CreateCallFailed`` / ``AnswerFailed`` | ``error_occurred`` (stage ``connect``) |
| ``RecognizeCompleted`` (DTMF) | the keys reach the agent (``dtmf_received``) |
| ``PlayCompleted``, ``PlayFailed``, ``MediaStreamingStarted``/``Stopped``, others | counted only |
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from artagent.events import ErrorOccurred, ParticipantJoined

from artagent_acs.calls import AcsCall
from artagent_acs.webhooks import TONES, CallbackEvent

if TYPE_CHECKING:
    from artagent_acs.service import AcsService

__all__ = ["apply_callback"]

log = logging.getLogger(__name__)


def _failure(event: CallbackEvent, default: str) -> str:
    info = event.data.result_information
    if info is None:
        return default
    return f"{info.message or default} (code {info.code}, subcode {info.sub_code})"


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


def _error(call: AcsCall, event: CallbackEvent, stage: str, *, recoverable: bool) -> None:
    message = _failure(event, f"{event.name} from ACS")
    call.emit(ErrorOccurred, kind=event.name, message=message, stage=stage, recoverable=recoverable)


def _settle_transfer(call: AcsCall, accepted: bool) -> None:
    if call.transfer is not None and not call.transfer.done():
        call.transfer.set_result(accepted)


def apply_callback(service: AcsService, call: AcsCall, event: CallbackEvent) -> None:
    name, data = event.name, event.data
    if data.call_connection_id and call.connection_id is None:
        service.calls.link(call, data.call_connection_id, data.server_call_id or None)
    if name == "CallConnected":
        call.connected = True
        service.start_recording(call)
    elif name == "ParticipantsUpdated":
        _participants(service, call, event)
    elif name == "CallDisconnected":
        call.disconnected = True
        _settle_transfer(call, False)
        if call.channel is not None:
            call.channel.end()
    elif name == "CallTransferAccepted":
        _settle_transfer(call, True)
    elif name == "CallTransferFailed":
        _error(call, event, "transfer", recoverable=True)
        _settle_transfer(call, False)
    elif name == "MediaStreamingFailed":
        _error(call, event, "media", recoverable=False)
        if call.channel is not None:
            call.channel.end()
    elif name in ("CreateCallFailed", "AnswerFailed", "ConnectFailed"):
        _error(call, event, "connect", recoverable=False)
    elif name == "RecognizeCompleted" and data.dtmf_result is not None:
        digits = "".join(TONES.get(tone.lower(), "") for tone in data.dtmf_result.tones)
        if digits:
            service.background(service.dtmf(call, digits.rstrip("#")), name=f"dtmf-{call.call_id}")
    else:
        log.debug("ACS %s for %s", name, call.call_id)
