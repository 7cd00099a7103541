"""Prometheus metrics of the ACS channel, in the runtime's registry (exported at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["AcsMetrics"]


class AcsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "artagent_acs_media_messages",
            "Media WebSocket messages received, by kind.",
            ["kind"],
            registry=registry,
        )
        self.rejected = Counter(
            "artagent_acs_media_rejected_messages",
            "Media messages that were not understood (malformed, unknown_kind, binary) and skipped.",
            ["reason"],
            registry=registry,
        )
        self.refused = Counter(
            "artagent_acs_refused_requests",
            "Requests refused (401 or WebSocket close 1008), by endpoint.",
            ["endpoint"],
            registry=registry,
        )
        self.callbacks = Counter(
            "artagent_acs_callback_events",
            "Call Automation events received on the callback URL, by type.",
            ["type"],
            registry=registry,
        )
        self.media_timeouts = Counter(
            "artagent_acs_media_timeouts",
            "Calls ended because their media stream went silent (no messages at all).",
            registry=registry,
        )
        self.forwarded = Counter(
            "artagent_acs_forwarded_requests",
            "Callbacks and hang-ups about calls another worker hosts, by kind and what became of "
            "them: owned (sent to the host's inbox), pending (kept until a worker hosts the call), "
            "unowned and unknown (no host: acted on here, or no such call), received (by the host).",
            ["kind", "outcome"],
            registry=registry,
        )
        self.streams = Gauge(
            "artagent_acs_media_streams", "Media WebSockets open on this worker.", registry=registry
        )
        self.inbound_lag = Histogram(
            "artagent_acs_inbound_lag_seconds",
            "How much later than its call's promptest frame an AudioData frame reached the channel, "
            "by its ACS timestamp (network jitter plus this worker's delay); one frame in 16.",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0),
            registry=registry,
        )
        self._audio = self.messages.labels("AudioData")

    def audio(self) -> None:
        """The per-frame counter, resolved once."""
        self._audio.inc()
