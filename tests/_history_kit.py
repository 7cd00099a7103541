"""A scripted call's events, for the history tests: every kind the history folds, in order."""

from __future__ import annotations

import datetime as dt
from typing import Any

from artagent.events import (
    AgentHandoff,
    AgentResponseGenerated,
    CallEnded,
    CallStarted,
    ErrorOccurred,
    EscalationRequested,
    Event,
    PlaybackInterrupted,
    PlaybackStarted,
    SpeechStarted,
    SpeechStopped,
    ToolCalled,
    ToolCompleted,
    TranscriptionReceived,
    TurnLatency,
)

T0 = dt.datetime(2026, 11, 22, 9, 14, 3, tzinfo=dt.UTC)


class Script:
    """Builds one call's events with increasing ``seq`` and times one second apart."""

    def __init__(self, call_id: str, start: dt.datetime = T0) -> None:
        self.call_id, self.start, self.events = call_id, start, []
        self.seq = 0

    def add(self, event_type: type[Event], /, **fields: Any) -> Event:
        self.seq += 1
        at = self.start + dt.timedelta(seconds=self.seq)
        event = event_type(call_id=self.call_id, seq=self.seq, occurred_at=at, **fields)
        self.events.append(event)
        return event


def insurance_call(
    call_id: str = "call-42", start: dt.datetime = T0, *, outcome: str = "resolved", ended: bool = True
) -> list[Event]:
    """A claims call: greeting, a question, a tool call, a handoff, a barge-in, an escalation,
    an error and the end, with partial transcripts and speech events the history ignores."""
    s = Script(call_id, start)
    s.add(CallStarted, channel="acs", caller="+14255550100", callee="+18005550199", scenario="insurance",
          worker="worker-a")  # fmt: skip
    s.add(AgentResponseGenerated, agent="auth", text="Hello, this is Contoso.", turn=0)
    s.add(SpeechStarted, offset_ms=1200.0)
    s.add(TranscriptionReceived, text="I want to", is_final=False)
    s.add(
        TranscriptionReceived,
        text="I want to file a claim.",
        is_final=True,
        language="en-US",
        confidence=0.93,
    )
    s.add(ToolCalled, tool="lookup_policy", tool_call_id="t-1", agent="auth", arguments={"policy": "P-100"})
    s.add(ToolCompleted, tool="lookup_policy", tool_call_id="t-1", ok=True, result={"holder": "Ana"},
          duration_ms=42.5)  # fmt: skip
    latency = TurnLatency(end_of_turn_ms=400.0, stt_ms=120.0, model_first_token_ms=300.0,
                          tts_first_audio_ms=150.0, total_ms=970.0)  # fmt: skip
    s.add(AgentResponseGenerated, agent="auth", text="Thanks Ana, let me transfer you.", turn=1,
          latency=latency, model="gpt-4o", prompt_tokens=120, completion_tokens=12)  # fmt: skip
    s.add(AgentHandoff, from_agent="auth", to_agent="claims", reason="claim intent")
    s.add(AgentResponseGenerated, agent="claims", text="Claims here. What happened?", turn=1,
          latency=TurnLatency(total_ms=610.0), model="gpt-4o", prompt_tokens=200,
          completion_tokens=8)  # fmt: skip
    s.add(TranscriptionReceived, text="A tree fell on my car.", is_final=True)
    s.add(PlaybackInterrupted, agent="claims", turn=2, heard_ms=800.0)
    s.add(AgentResponseGenerated, agent="claims", text="I am sorry to", turn=2, interrupted=True,
          latency=TurnLatency(total_ms=700.0), model="gpt-4o-mini", prompt_tokens=210,
          completion_tokens=20)  # fmt: skip
    s.add(TranscriptionReceived, text="I need a person.", is_final=True)
    s.add(EscalationRequested, reason="caller asked", target="+18005550111", agent="claims")
    s.add(ErrorOccurred, kind="TimeoutError", message="tts slow", stage="reply", recoverable=True)
    if ended:
        s.add(CallEnded, reason="caller_hangup", duration_ms=17000.0, outcome=outcome, turns=3, barge_ins=1)
    return s.events


def short_call(
    call_id: str, start: dt.datetime, *, outcome: str = "resolved", agent: str = "auth"
) -> list[Event]:
    s = Script(call_id, start)
    s.add(CallStarted, channel="browser", worker="worker-a")
    s.add(TranscriptionReceived, text="Hi.", is_final=True)
    s.add(AgentResponseGenerated, agent=agent, text="Hello.", turn=1, latency=TurnLatency(total_ms=500.0))
    s.add(CallEnded, reason="caller_hangup", duration_ms=3000.0, outcome=outcome, turns=1)
    return s.events


def long_call(call_id: str, turns: int, start: dt.datetime = T0, *, ended: bool = True) -> list[Event]:
    """A long conversation as a real session publishes it: per turn the VAD's start and stop and
    two partials (not kept), the caller's final transcript, the agent's reply with its latency and
    token usage, and playback starting; a tool call every fifth turn."""
    s = Script(call_id, start)
    s.add(CallStarted, channel="acs", caller="+14255550100", callee="+18005550199", scenario="insurance",
          worker="worker-a")  # fmt: skip
    for turn in range(1, turns + 1):
        s.add(SpeechStarted, offset_ms=1000.0 * turn)
        s.add(TranscriptionReceived, text="The car was parked on", is_final=False)
        s.add(TranscriptionReceived, text="The car was parked on Elm Street", is_final=False)
        s.add(SpeechStopped, offset_ms=1000.0 * turn + 900)
        s.add(TranscriptionReceived, text=f"The car was parked on Elm Street, turn {turn}, near number 42.",
              is_final=True, language="en-US", confidence=0.91, start_ms=1000.0 * turn,
              end_ms=1000.0 * turn + 900)  # fmt: skip
        if turn % 5 == 0:
            s.add(ToolCalled, tool="lookup_policy", tool_call_id=f"t-{turn}", agent="claims",
                  arguments={"policy": "PX-1234"})  # fmt: skip
            s.add(ToolCompleted, tool="lookup_policy", tool_call_id=f"t-{turn}", ok=True,
                  result={"holder": "Ana Smith", "coverage": "comprehensive"}, duration_ms=42.5)  # fmt: skip
        latency = TurnLatency(end_of_turn_ms=400.0, stt_ms=120.0, model_first_token_ms=300.0,
                              tts_first_audio_ms=150.0, total_ms=970.0)  # fmt: skip
        s.add(AgentResponseGenerated, agent="claims", turn=turn, latency=latency, model="gpt-4o-mini",
              text="Thank you. I have noted that. Was anyone hurt, and where is the car now?",
              prompt_tokens=1200 + turn, completion_tokens=24)  # fmt: skip
        s.add(PlaybackStarted, agent="claims", turn=turn)
    if ended:
        s.add(CallEnded, reason="caller_hangup", duration_ms=4000.0 * turns, outcome="claim_recorded",
              turns=turns)  # fmt: skip
    return s.events
