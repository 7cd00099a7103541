"""Per-turn latency, measured at the wire on the call's one monotonic clock.

A :class:`TurnTimeline` collects the moments of one turn as they happen; :meth:`latency`
turns them into the :class:`~artagent.events.TurnLatency` carried by
``agent_response_generated``, and :class:`SessionMetrics` exports the same figures as
Prometheus histograms, with counters of what happens to agent speech (barge-ins, false
interruptions, fillers talked over) and of failed turns.
"""

from __future__ import annotations

from typing import Any

import msgspec
from prometheus_client import CollectorRegistry, Counter, Histogram

from artagent.events import TurnLatency

__all__ = ["SessionMetrics", "TurnTimeline"]


class TurnTimeline(msgspec.Struct, kw_only=True):
    """Clock times (seconds) of one turn; a moment that did not happen stays ``None``."""

    speech_end: float | None = None
    """The caller stopped speaking (backdated to the first silent frame)."""
    final_transcript: float | None = None
    end_of_turn: float | None = None
    """The turn detector decided the caller was done."""
    model_request: float | None = None
    model_first_token: float | None = None
    tts_request: float | None = None
    tts_first_audio: float | None = None
    first_frame_sent: float | None = None
    """The first agent audio frame left for the caller."""

    def latency(self) -> TurnLatency:
        def ms(start: float | None, end: float | None) -> float | None:
            return None if start is None or end is None else round((end - start) * 1000, 1)

        return TurnLatency(
            end_of_turn_ms=ms(self.speech_end, self.end_of_turn),
            stt_ms=ms(self.speech_end, self.final_transcript),
            model_first_token_ms=ms(self.model_request, self.model_first_token),
            tts_first_audio_ms=ms(self.tts_request, self.tts_first_audio),
            total_ms=ms(self.speech_end, self.first_frame_sent),
        )


_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)


class SessionMetrics:
    """``artagent_turn_latency_seconds{stage=...}`` (one histogram family, a label per stage) and
    ``artagent_interruptions_total{kind=...}``: ``barge_in`` (the agent was stopped),
    ``false`` (caller sound that yielded no words in time), ``filler`` (a filler talked over
    the agent, who went on)."""

    STAGES = ("end_of_turn", "stt", "model_first_token", "tts_first_audio", "total")

    def __init__(self, registry: CollectorRegistry | None) -> None:
        kw: dict[str, Any] = {"registry": registry}
        self._histogram = Histogram(
            "artagent_turn_latency_seconds",
            "Per-turn latency by stage; total is caller speech end to first agent audio frame sent",
            ["stage"],
            buckets=_BUCKETS,
            **kw,
        )
        self._stages = {stage: self._histogram.labels(stage) for stage in self.STAGES}
        interruptions = Counter(
            "artagent_interruptions",
            "Caller speech over the agent, by what it turned out to be",
            ["kind"],
            **kw,
        )
        self._interruptions = {kind: interruptions.labels(kind) for kind in ("barge_in", "false", "filler")}

    def interruption(self, kind: str) -> None:
        self._interruptions[kind].inc()

    def observe(self, latency: TurnLatency) -> None:
        for stage, child in self._stages.items():
            value = getattr(latency, f"{stage}_ms")
            if value is not None:
                child.observe(value / 1000)
