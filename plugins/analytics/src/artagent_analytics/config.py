"""The ``[plugins.analytics]`` table."""

from __future__ import annotations

from typing import Annotated

import msgspec


class AnalyticsConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    group: str = "analytics"
    """Consumer group on the event stream; give each independent deployment its own."""
    key_prefix: str = "artagent:analytics"
    """Prefix of every Redis key this plugin writes."""
    call_ttl_s: Annotated[int, msgspec.Meta(gt=0)] = 7 * 24 * 3600
    """How long a call's analytics are kept after its last event."""
    latency_window: Annotated[int, msgspec.Meta(gt=0)] = 10_000
    """How many recent turns the summary's latency percentiles are computed over."""
