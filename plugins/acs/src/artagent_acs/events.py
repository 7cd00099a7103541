"""The ACS channel's own event types, added to the catalogue by ``register_event_types``.

Failures ACS reports (``MediaStreamingFailed``, ``PlayFailed``, ``RecognizeFailed``, a refused
transfer) are core's ``error_occurred``; these say what has no core event.
"""

from __future__ import annotations

from typing import Literal

from artagent.events import Event

__all__ = ["AcsMediaStreamingChanged", "AcsPlayCompleted"]


class AcsMediaStreamingChanged(Event, frozen=True, kw_only=True, tag="acs_media_streaming_changed"):
    """ACS started, stopped or failed to stream the call's media (``MediaStreamingStarted``,
    ``MediaStreamingStopped``, ``MediaStreamingFailed``). A failure also comes as
    ``error_occurred`` (stage ``media``) and ends the call (reason ``media_failed``)."""

    status: Literal["started", "stopped", "failed"] = "started"
    details: str = ""
    """ACS's ``mediaStreamingStatusDetails`` (``subscriptionStarted``,
    ``streamConnectionUnsuccessful``, ...)."""
    content_type: str = ""
    """What is streamed (``Audio``)."""
    code: int | None = None
    """``resultInformation.code``, when ACS gave one."""
    message: str = ""


class AcsPlayCompleted(Event, frozen=True, kw_only=True, tag="acs_play_completed"):
    """ACS finished playing a prompt on the call (``PlayCompleted``): a Call Automation play
    started by another application on the same call; this channel speaks through the media
    stream. ``PlayFailed`` comes as ``error_occurred`` (stage ``play``)."""

    operation_context: str = ""
