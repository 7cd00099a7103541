"""Per-turn latency breakdown and its Prometheus export."""

from __future__ import annotations

from artagent.events import AgentResponseGenerated, EventCatalogue
from artagent.session.latency import SessionMetrics, TurnTimeline
from prometheus_client import CollectorRegistry, generate_latest


def test_timeline_gives_each_stage_and_the_total_at_the_wire() -> None:
    timeline = TurnTimeline(
        speech_end=10.0,
        final_transcript=10.3,
        end_of_turn=10.45,
        model_request=10.45,
        model_first_token=10.85,
        tts_request=10.9,
        tts_first_audio=11.05,
        first_frame_sent=11.06,
    )
    latency = timeline.latency()
    assert latency.end_of_turn_ms == 450.0
    assert latency.stt_ms == 300.0
    assert latency.model_first_token_ms == 400.0
    assert latency.tts_first_audio_ms == 150.0
    assert latency.total_ms == 1060.0
    # It travels in agent_response_generated, as JSON any subscriber reads.
    event = AgentResponseGenerated(call_id="c", agent="auth", text="hi", latency=latency)
    catalogue = EventCatalogue()
    assert catalogue.decode(catalogue.encode(event)) == event


def test_a_stage_that_did_not_happen_is_none() -> None:
    latency = TurnTimeline(speech_end=1.0, first_frame_sent=1.5).latency()
    assert latency.total_ms == 500.0
    assert latency.stt_ms is None and latency.model_first_token_ms is None


def test_histograms_by_stage() -> None:
    registry = CollectorRegistry()
    metrics = SessionMetrics(registry)
    metrics.observe(TurnTimeline(speech_end=0.0, end_of_turn=0.5, first_frame_sent=0.8).latency())
    text = generate_latest(registry).decode()
    assert 'artagent_turn_latency_seconds_count{stage="total"} 1.0' in text
    assert 'artagent_turn_latency_seconds_sum{stage="end_of_turn"} 0.5' in text
    assert 'artagent_turn_latency_seconds_count{stage="stt"} 0.0' in text
