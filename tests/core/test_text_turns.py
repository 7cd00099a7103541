"""Typed turns (the browser's text box, `artagent chat`, DTMF): a whole turn at once, through
the same agents, tools and events as speech."""

from __future__ import annotations

from artagent.events import AgentResponseGenerated, PlaybackInterrupted, TranscriptionReceived
from artagent.session.engine import SessionSettings
from artagent.testing import CallHarness, VirtualClock


def test_a_typed_turn_is_answered_like_a_spoken_one(virtual_clock: VirtualClock) -> None:
    call = CallHarness.build(virtual_clock, [], ["Your balance is 12 dollars."])

    async def caller() -> None:
        task = await call.start(SessionSettings(greeting="Hi.", idle_reprompt_s=50.0, idle_hangup_s=90.0))
        assert call.session is not None
        await call.session.until_quiet()
        await call.session.submit_text("  What is my balance?  ")
        await call.session.until_quiet()
        call.channel.leave()
        await task

    virtual_clock.run(caller(), until=30.0)
    [typed] = call.of(TranscriptionReceived)
    assert (typed.text, typed.is_final, typed.source, typed.speaker) == (
        "What is my balance?",
        True,
        "text",
        "caller",
    )
    assert call.model.requests[0].messages[-1].content == "What is my balance?"
    assert call.spoken() == ["Hi.", "Your balance is twelve dollars."]
    answer = call.of(AgentResponseGenerated)[-1]
    assert answer.turn == 1 and answer.latency is not None and answer.latency.stt_ms == 0.0


def test_a_typed_turn_interrupts_an_agent_that_is_speaking(virtual_clock: VirtualClock) -> None:
    greeting = "Hello and welcome, this greeting goes on and on for quite a long while indeed."
    call = CallHarness.build(virtual_clock, [], ["Sure."])

    async def caller() -> None:
        task = await call.start(SessionSettings(greeting=greeting, idle_reprompt_s=50.0, idle_hangup_s=90.0))
        assert call.session is not None
        await virtual_clock.sleep(1.5)
        await call.session.submit_text("Skip it.")
        await call.session.until_quiet()
        call.channel.leave()
        await task

    virtual_clock.run(caller(), until=30.0)
    [cut] = call.of(PlaybackInterrupted)
    assert 0 < cut.heard_ms < 1500
    assert call.spoken()[-1] == "Sure."
    assert call.session is not None and call.session.history[0].interrupted
