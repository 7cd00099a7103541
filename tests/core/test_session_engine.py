"""The session engine end to end on virtual time: a scripted caller, fake providers, real
building blocks (segmenter, chunker, playout), every assertion at the wire or on the events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from artagent.events import (
    AgentResponseGenerated,
    CallEnded,
    CallStarted,
    ErrorOccurred,
    Event,
    PlaybackInterrupted,
    PlaybackStarted,
    SpeechStarted,
    TranscriptionReceived,
)
from artagent.providers import TextDelta
from artagent.session.engine import SessionSettings
from artagent.session.responder import Clause, Reply
from artagent.testing import (
    CallHarness,
    FakeProviderError,
    ScriptedResponse,
    VirtualClock,
    frame_rms,
)

APOLOGY = "Sorry, I had a problem there. Could you say that again?"


Call = CallHarness


def make_call(
    clock: VirtualClock, utterances: list[str], responses: list[ScriptedResponse], **tts: Any
) -> CallHarness:
    return CallHarness.build(clock, utterances, responses, **tts)


def types(events: list[Event]) -> list[str]:
    return [event.type_tag() for event in events]


def test_greeting_is_played_and_call_started_is_emitted(virtual_clock: VirtualClock) -> None:
    call = make_call(virtual_clock, [], [])

    async def scenario() -> None:
        task = await call.start(SessionSettings(greeting="Hi there.", channel="cli"))
        await call.channel.silence(1.5)
        call.channel.leave()
        await task

    virtual_clock.run(scenario())
    started = call.events[0]
    assert isinstance(started, CallStarted) and started.seq == 1 and started.channel == "cli"
    assert [s.text for s in call.tts.syntheses] == ["Hi there."]
    assert call.channel.first_sent_at == pytest.approx(0.15)  # the fake TTS's first audio
    assert call.channel.audio_sent_s == pytest.approx(len("Hi there.") * 0.06)
    assert types(call.events) == [
        "call_started",
        "playback_started",
        "agent_response_generated",
        "call_ended",
    ]
    greeting = call.of(AgentResponseGenerated)[0]
    assert greeting.text == "Hi there." and greeting.latency is None
    ended = call.events[-1]
    assert isinstance(ended, CallEnded) and ended.reason == "caller_hangup"
    assert ended.duration_ms == pytest.approx(1500.0)


def test_three_turns_emit_events_in_order_with_exact_latencies(virtual_clock: VirtualClock) -> None:
    asks = ["What are your hours?", "Are you open on Sunday?", "Thanks."]
    answers = ["We open at nine.", "No, we are closed.", "You are welcome."]
    call = make_call(virtual_clock, asks, list(answers))

    async def scenario() -> None:
        task = await call.start(SessionSettings(greeting="Hi."))
        await call.channel.silence(1.0)
        for _ in asks:
            await call.channel.say(1.0)
            await call.channel.silence(3.0)
        call.channel.leave()
        await task

    virtual_clock.run(scenario())
    events = call.events
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    turn = [
        "speech_started",
        "speech_stopped",
        "transcription_received",
        "playback_started",
        "agent_response_generated",
    ]
    greeting = ["playback_started", "agent_response_generated"]
    assert types(events) == ["call_started", *greeting, *turn * 3, "call_ended"]
    replies = call.of(AgentResponseGenerated)[1:]
    assert [r.text for r in replies] == answers
    assert [r.turn for r in replies] == [1, 2, 3]
    for reply in replies:
        latency = reply.latency
        assert latency.end_of_turn_ms == 500.0  # the turn detector's silence
        assert latency.stt_ms == 440.0  # 240 ms hangover + the fake STT's 200 ms
        assert latency.model_first_token_ms == 300.0
        assert latency.tts_first_audio_ms == 150.0
        assert latency.total_ms == 950.0  # 500 + 300 + 150, at the wire
    finals = [t.text for t in call.of(TranscriptionReceived)]
    assert finals == asks
    assert call.turn_detector.asked == asks  # once per transcript, not on every silent frame
    total = {"stage": "total"}
    assert call.registry.get_sample_value("artagent_turn_latency_seconds_count", total) == 3
    assert call.registry.get_sample_value("artagent_turn_latency_seconds_sum", total) == pytest.approx(2.85)
    last_request = [(m.role, m.content) for m in call.model.requests[-1].messages]
    assert last_request[1:] == [
        ("assistant", "Hi."),
        ("user", asks[0]),
        ("assistant", answers[0]),
        ("user", asks[1]),
        ("assistant", answers[1]),
        ("user", asks[2]),
    ]
    assert last_request[0][0] == "system"


LONG_ANSWER = (
    "Your balance is one hundred dollars. Your next payment is due on the first of next month. "
    "You can pay online or by phone. Is there anything else I can help with today?"
)


def test_barge_in_flushes_at_once_cancels_the_reply_and_keeps_what_was_heard(
    virtual_clock: VirtualClock,
) -> None:
    call = make_call(
        virtual_clock, ["What is my balance?", "Stop."], [LONG_ANSWER, "Okay."], chunk_interval_s=0.1
    )
    barge: list[float] = []

    async def scenario() -> None:
        task = await call.start(SessionSettings(greeting="Hi."))
        await call.channel.silence(1.0)
        await call.channel.say(1.0)
        await call.channel.silence(2.0)  # the answer starts 0.95 s into this silence
        barge.append(virtual_clock.now())
        await call.channel.say(1.0)
        await call.channel.silence(3.0)
        call.channel.leave()
        await task

    virtual_clock.run(scenario())
    decided = barge[0] + 0.06  # 60 ms of speech makes the segmenter decide
    assert len(call.channel.flushes) == 1
    assert 0.0 <= call.channel.flushes[0] - decided <= 0.02
    # Nothing of the interrupted answer leaves after the flush: the next frame is the next answer.
    after = call.channel.sent[call.channel.sent_before_flush[0] :]
    next_start = barge[0] + 1.0 + 0.95
    assert after and after[0].at == pytest.approx(next_start)
    # The model request and the synthesis were really cancelled.
    assert call.model.calls[0].cancelled
    assert call.tts.cancelled >= 1 and any(s.cancelled for s in call.tts.syntheses)
    interrupted = call.of(PlaybackInterrupted)
    assert len(interrupted) == 1
    first_frame = barge[0] - 2.0 + 0.95
    assert interrupted[0].heard_ms == pytest.approx((decided - first_frame) * 1000, abs=20)
    # The history holds only what was heard, marked interrupted, and the model saw that.
    messages = call.model.requests[1].messages
    cut = next(m for m in messages if m.interrupted)
    assert cut.role == "assistant" and cut.content
    assert LONG_ANSWER.startswith(cut.content) and len(cut.content) < len(LONG_ANSWER) / 2
    assert [m.content for m in messages[-2:]] == [cut.content, "Stop."]
    answers = call.of(AgentResponseGenerated)
    assert [a.interrupted for a in answers] == [False, True, False]
    assert answers[-1].text == "Okay."
    starts = [i for i, e in enumerate(call.events) if isinstance(e, SpeechStarted)]
    assert isinstance(call.events[starts[1] + 1], PlaybackInterrupted)


def test_a_provider_error_mid_turn_is_reported_apologised_for_and_the_call_goes_on(
    virtual_clock: VirtualClock,
) -> None:
    failing: ScriptedResponse = [TextDelta("Let"), TextDelta(" me"), FakeProviderError("model down")]
    call = make_call(virtual_clock, ["Check my claim.", "Check my claim."], [failing, "It is approved."])

    async def scenario() -> None:
        task = await call.start(SessionSettings(greeting="Hi."))
        await call.channel.silence(1.0)
        for _ in range(2):
            await call.channel.say(1.0)
            await call.channel.silence(5.0)
        call.channel.leave()
        await task

    virtual_clock.run(scenario())
    errors = call.of(ErrorOccurred)
    assert len(errors) == 1
    assert errors[0].kind == "FakeProviderError" and errors[0].message == "model down"
    assert errors[0].stage == "reply" and errors[0].recoverable
    assert [s.text for s in call.tts.syntheses][1:3] == [
        "Sorry, I had a problem there.",
        "Could you say that again?",
    ]
    spoken = [a.text for a in call.of(AgentResponseGenerated)]
    assert spoken == ["Hi.", APOLOGY, "It is approved."]
    assert len(call.of(PlaybackStarted)) == 3
    assert call.events[-1].type_tag() == "call_ended"


@pytest.mark.parametrize(
    ("farewell", "reason", "said"),
    [(True, "worker_shutdown", ["Goodbye."]), (False, "media_failed", [])],
    ids=["says-goodbye", "nobody-to-hear-it"],
)
def test_end_says_goodbye_unless_told_not_and_hangs_up(
    virtual_clock: VirtualClock, farewell: bool, reason: str, said: list[str]
) -> None:
    call = make_call(virtual_clock, [], [])

    async def scenario() -> None:
        task = await call.start(SessionSettings(greeting="", farewell="Goodbye."))
        await call.channel.silence(0.5)
        assert call.session is not None
        await call.session.end(reason, farewell=farewell)
        await task

    virtual_clock.run(scenario())
    assert call.channel.hangup_reason == reason
    assert [s.text for s in call.tts.syntheses] == said
    assert call.channel.audio_sent_s == pytest.approx(sum(len(text) for text in said) * 0.06)
    ended = call.events[-1]
    assert isinstance(ended, CallEnded) and ended.reason == reason


def test_heard_text_keeps_played_clauses_and_a_proportional_cut() -> None:
    reply = Reply(
        clauses=[
            Clause("One two three four.", frames=50, complete=True),
            Clause("five six seven eight", frames=50, complete=True),
        ]
    )
    assert reply.heard_text(0) == ""
    assert reply.heard_text(1000) == "One two three four."
    assert reply.heard_text(1500) == "One two three four. five six"
    assert reply.heard_text(5000) == reply.text


def test_heard_text_estimates_a_clause_still_being_synthesized() -> None:
    # 19 characters took 1000 ms; the unfinished clause has produced only 200 ms so far.
    done = Clause("One two three four.", frames=50, complete=True)
    reply = Reply(clauses=[done, Clause("five six seven eight", frames=10)])
    assert reply.heard_text(1200) == "One two three four."  # 200 ms of ~1050: no whole word
    assert reply.heard_text(1600) == "One two three four. five six"


APOLOGY_CLAUSES = ["Sorry, I had a problem there.", "Could you say that again?"]


def two_turns(call: CallHarness, settings: SessionSettings | None = None) -> Any:
    """The caller says two things, 1 s each, with 5 s of silence after each, then leaves."""

    async def scenario() -> None:
        task = await call.start(settings or SessionSettings(greeting="Hi."))
        await call.channel.silence(1.0)
        for _ in range(2):
            await call.channel.say(1.0)
            await call.channel.silence(5.0)
        call.channel.leave()
        await task

    return scenario()


def test_a_failed_recogniser_is_replaced_and_the_caller_asked_again(virtual_clock: VirtualClock) -> None:
    call = make_call(virtual_clock, ["Check my claim.", "Check my claim, please."], ["It is approved."])
    call.stt.fail_on = 0  # the first utterance's final result is an error

    virtual_clock.run(two_turns(call))
    [error] = call.of(ErrorOccurred)
    assert (error.kind, error.stage, error.recoverable) == ("FakeProviderError", "stt", True)
    assert len(call.stt.streams) == 2 and call.stt.streams[0].closed  # a new recogniser listens
    assert call.stt.streams[1].received  # and the second utterance went to it
    assert call.spoken() == ["Hi.", *APOLOGY_CLAUSES, "It is approved."]
    apology = call.tts.syntheses[1]
    failed_at = 1.0 + 1.0 + 0.24 + 0.2  # speech end + the segmenter's hangover + the STT's latency
    assert apology.started_at == pytest.approx(failed_at, abs=0.021)
    [request] = call.model.requests  # the lost words never reached the model
    assert [m.content for m in request.messages if m.role == "user"] == ["Check my claim, please."]
    assert [a.text for a in call.of(AgentResponseGenerated)] == ["Hi.", APOLOGY, "It is approved."]
    ended = call.events[-1]
    assert isinstance(ended, CallEnded) and ended.reason == "caller_hangup"
    assert [e.seq for e in call.events] == list(range(1, len(call.events) + 1))


def test_a_dropped_recogniser_connection_mid_speech_is_replaced(virtual_clock: VirtualClock) -> None:
    call = make_call(virtual_clock, ["Check my claim.", "Check my claim, please."], ["It is approved."])
    call.stt.fail_push = 75  # half-way through the first utterance (frames 50 to 99)

    virtual_clock.run(two_turns(call))
    [error] = call.of(ErrorOccurred)
    assert (error.stage, error.recoverable) == ("stt", True)
    first, second = call.stt.streams
    assert len(first.received) == 75 and first.closed
    # The rest of the interrupted utterance is not sent: the new recogniser starts with the next.
    spoken_frames = [frame for frame in second.received if frame_rms(frame) >= 0.02]
    assert len(spoken_frames) == 50 and second.end_of_speech_at == [pytest.approx(8.24)]  # utterance 2 only
    apology = call.tts.syntheses[1]
    assert call.spoken()[1:3] == APOLOGY_CLAUSES
    assert apology.started_at == pytest.approx(2.0 + 0.24, abs=0.021)  # once the caller went quiet
    assert [a.text for a in call.of(AgentResponseGenerated)][1:] == [APOLOGY, "It is approved."]


def test_a_recogniser_failing_again_and_again_ends_the_call_politely(virtual_clock: VirtualClock) -> None:
    call = make_call(virtual_clock, ["One.", "Two.", "Three."], [])
    call.stt.fail_on = {0, 1, 2}
    settings = SessionSettings(greeting="", farewell="Goodbye.", provider_failure_limit=3)

    async def scenario() -> None:
        task = await call.start(settings)
        for _ in range(3):
            await call.channel.say(1.0)
            await call.channel.silence(5.0)
        await task

    virtual_clock.run(scenario())
    errors = call.of(ErrorOccurred)
    assert [(e.stage, e.recoverable) for e in errors] == [("stt", True), ("stt", True), ("stt", False)]
    assert call.spoken() == [*APOLOGY_CLAUSES, *APOLOGY_CLAUSES, "Goodbye."]
    assert call.channel.hangup_reason == "error" and call.model.calls == []
    ended = call.events[-1]
    assert isinstance(ended, CallEnded) and ended.reason == "error"


def test_failures_far_apart_are_each_recovered_from(virtual_clock: VirtualClock) -> None:
    call = make_call(virtual_clock, ["One.", "Two.", "Three.", "Four."], ["Yes."])
    call.stt.fail_on = {0, 1, 2}
    settings = SessionSettings(greeting="", provider_failure_limit=3, provider_failure_window_s=10.0)

    async def scenario() -> None:
        task = await call.start(settings)
        for _ in range(4):
            await call.channel.say(1.0)
            await call.channel.silence(6.0)  # one failure every 7 s: never 3 within 10 s
        call.channel.leave()
        await task

    virtual_clock.run(scenario(), until=60.0)
    assert [e.recoverable for e in call.of(ErrorOccurred)] == [True, True, True]
    assert call.spoken() == [*APOLOGY_CLAUSES * 3, "Yes."]
    assert call.of(CallEnded)[0].reason == "caller_hangup"


def test_a_recogniser_that_cannot_be_reopened_ends_the_call_politely(virtual_clock: VirtualClock) -> None:
    call = make_call(virtual_clock, ["Hello."], [])
    call.stt.fail_on = 0

    async def unavailable() -> Any:
        raise ConnectionError("speech service unreachable")

    async def scenario() -> None:
        task = await call.start(SessionSettings(greeting="", farewell="Goodbye."), open_stt=unavailable)
        await call.channel.say(1.0)
        await call.channel.silence(3.0)
        await task

    virtual_clock.run(scenario())
    errors = [(e.kind, e.stage, e.recoverable) for e in call.of(ErrorOccurred)]
    assert errors == [("FakeProviderError", "stt", True), ("ConnectionError", "stt", False)]
    assert call.spoken() == ["Goodbye."] and call.channel.hangup_reason == "error"


def test_a_synthesiser_failing_mid_reply_is_apologised_for(virtual_clock: VirtualClock) -> None:
    # Synthesis 0 is the greeting, 1 the answer: it fails after 0.3 s of audio.
    call = make_call(virtual_clock, ["Check my claim.", "And now?"], ["It is approved.", "Still approved."])
    call.tts.fail_on, call.tts.fail_after_s = 1, 0.3

    virtual_clock.run(two_turns(call))
    [error] = call.of(ErrorOccurred)
    assert (error.kind, error.stage, error.recoverable) == ("FakeProviderError", "reply", True)
    assert call.spoken() == ["Hi.", "It is approved.", *APOLOGY_CLAUSES, "Still approved."]
    failed = call.tts.syntheses[1]
    assert failed.audio_s == pytest.approx(0.3)
    # What it produced before failing was played, then the apology, then the next answer.
    answer_start = 2.0 + 0.24 + 0.5 - 0.24 + 0.3 + 0.15  # speech end, turn, model, TTS
    heard = [f.at for f in call.channel.sent if answer_start - 1e-6 <= f.at < answer_start + 0.3 - 1e-6]
    assert len(heard) == 15
    assert [a.text for a in call.of(AgentResponseGenerated)] == ["Hi.", APOLOGY, "Still approved."]
    assert call.of(CallEnded)[0].reason == "caller_hangup"


def test_a_failing_voice_activity_detector_is_replaced_unheard(virtual_clock: VirtualClock) -> None:
    call = make_call(virtual_clock, ["Check my claim.", "And now?"], ["It is approved.", "Still approved."])
    call.vad.fail_on = 75  # in the middle of the first utterance (frames 50 to 99)

    virtual_clock.run(two_turns(call))
    [error] = call.of(ErrorOccurred)
    assert (error.kind, error.stage, error.recoverable) == ("FakeProviderError", "vad", True)
    assert len(call.vad.streams) == 2
    # Nothing the caller said was lost, so no apology: both turns are answered.
    assert call.spoken() == ["Hi.", "It is approved.", "Still approved."]
    assert [t.text for t in call.of(TranscriptionReceived)] == ["Check my claim.", "And now?"]


def test_a_voice_activity_detector_failing_on_every_frame_ends_the_call_politely(
    virtual_clock: VirtualClock,
) -> None:
    call = make_call(virtual_clock, ["Hello."], [])
    call.vad.fail_on = range(75, 10**6)

    async def scenario() -> None:
        task = await call.start(SessionSettings(greeting="Hi.", farewell="Goodbye."))
        await call.channel.silence(1.0)
        await call.channel.say(1.0)
        await call.channel.silence(5.0)
        await task

    virtual_clock.run(scenario())
    errors = [(e.stage, e.recoverable) for e in call.of(ErrorOccurred)]
    assert errors == [("vad", True), ("vad", True), ("vad", False)]  # three frames, 40 ms
    assert call.spoken() == ["Hi.", "Goodbye."]
    assert call.tts.syntheses[1].started_at == pytest.approx(1.54, abs=0.021)
    assert call.channel.hangup_reason == "error"
    assert call.of(CallEnded)[0].reason == "error"


def test_idle_caller_is_reprompted_then_told_goodbye(virtual_clock: VirtualClock) -> None:
    call = make_call(virtual_clock, [], [])
    settings = SessionSettings(
        greeting="Hi.", idle_reprompt_s=5.0, idle_reprompt="Still there?", idle_hangup_s=12.0, farewell="Bye."
    )

    async def scenario() -> None:
        task = await call.start(settings)
        await call.channel.silence(30.0)
        await task

    virtual_clock.run(scenario(), until=60.0)
    spoken = [(s.text, round(s.started_at, 2)) for s in call.tts.syntheses]
    greeting_end = len("Hi.") * 0.06 + 0.15  # the fakes' TTS: 60 ms a character, first audio at 150 ms
    assert [text for text, _ in spoken] == ["Hi.", "Still there?", "Bye."]
    assert spoken[1][1] == pytest.approx(greeting_end + 5.0, abs=0.03)  # N s after the agent went quiet
    assert spoken[2][1] == pytest.approx(greeting_end + 12.0, abs=0.03)  # M s: the reprompt does not reset it
    assert call.channel.hangup_reason == "idle"
    ended = call.events[-1]
    assert isinstance(ended, CallEnded) and ended.reason == "idle"


def test_caller_speech_resets_the_idle_clock(virtual_clock: VirtualClock) -> None:
    call = make_call(virtual_clock, ["hello there."], ["Hi!"])
    settings = SessionSettings(greeting="", idle_reprompt_s=4.0, idle_hangup_s=100.0)

    async def scenario() -> None:
        task = await call.start(settings)
        await call.channel.silence(3.0)
        await call.channel.say(1.0)
        await call.channel.silence(3.5)  # 3.5 s after the caller and < 4 s after the answer ended
        call.channel.leave()
        await task

    virtual_clock.run(scenario(), until=60.0)
    assert [s.text for s in call.tts.syntheses] == ["Hi!"]  # no reprompt


def test_calls_end_at_the_maximum_duration(virtual_clock: VirtualClock) -> None:
    call = make_call(virtual_clock, [], [])
    settings = SessionSettings(greeting="", max_duration_s=10.0, idle_reprompt_s=100.0, idle_hangup_s=200.0,
                               farewell="Our time is up.")  # fmt: skip

    async def scenario() -> None:
        task = await call.start(settings)
        await call.channel.silence(60.0)
        await task

    virtual_clock.run(scenario(), until=120.0)
    assert call.channel.hangup_reason == "max_duration"
    assert [s.text for s in call.tts.syntheses] == ["Our time is up."]
    assert call.tts.syntheses[0].started_at == pytest.approx(10.0, abs=0.03)


def break_model(call: CallHarness) -> None:
    call.model.responses[0] = [TextDelta("Let"), FakeProviderError("model down")]


def break_stt(call: CallHarness) -> None:
    call.stt.fail_on = 0


def break_tts(call: CallHarness) -> None:
    call.tts.fail_on, call.tts.fail_after_s = 1, 0.2


def break_vad(call: CallHarness) -> None:
    call.vad.fail_on = range(75, 10**6)


@pytest.mark.parametrize("broken_part", [break_model, break_stt, break_tts, break_vad])
def test_a_failing_call_does_not_disturb_a_concurrent_one(
    virtual_clock: VirtualClock, broken_part: Callable[[CallHarness], None]
) -> None:
    broken = make_call(virtual_clock, ["Check my claim."], ["It is approved."])
    broken_part(broken)
    healthy = make_call(virtual_clock, ["Check my claim."], ["It is approved."])
    alone = make_call(virtual_clock, ["Check my claim."], ["It is approved."])

    async def caller(call: Call) -> None:
        task = await call.start(SessionSettings(greeting="Hi."))
        await call.channel.silence(1.0)
        await call.channel.say(1.0)
        await call.channel.silence(5.0)
        call.channel.leave()
        await task

    async def both() -> None:
        await asyncio.gather(caller(broken), caller(healthy))

    virtual_clock.run(both())
    assert broken.of(ErrorOccurred)
    assert healthy.of(ErrorOccurred) == []
    # The healthy call behaves exactly as it does alone: same events, same frame timing.
    virtual_clock.run(caller(alone))
    offset = alone.channel.sent_at[0] - healthy.channel.sent_at[0]
    assert types(healthy.events) == types(alone.events)
    shifted = [round(t + offset, 6) for t in healthy.channel.sent_at]
    assert shifted == [round(t, 6) for t in alone.channel.sent_at]
    assert [r.latency for r in healthy.of(AgentResponseGenerated)] == [
        r.latency for r in alone.of(AgentResponseGenerated)
    ]
