"""Caller sound over the agent on virtual time: real barge-ins, false interruptions (noise that
yields no words), fillers that do not interrupt, and barge-in switched off."""

from __future__ import annotations

import itertools

import pytest
from artagent.events import AgentResponseGenerated, CallEnded, PlaybackInterrupted
from artagent.session.engine import SessionSettings
from artagent.session.interruptions import FillerWords, Interruption
from artagent.testing import CallHarness, VirtualClock

ANSWER = (
    "Your balance is one hundred dollars. Your next payment is due on the first of next month. "
    "You can pay online or by phone."
)
ANSWER_S = len(ANSWER) * 0.06  # the fake TTS speaks 60 ms a character
FIRST_FRAME = 1.95  # the caller stops at 1.0; 0.5 s turn silence + 0.3 s model + 0.15 s TTS
FILLERS = ("uh-huh", "mm-hmm", "yeah", "okay", "right")


def quiet(**settings: object) -> SessionSettings:
    """No greeting, and no idle reprompt to muddle the record."""
    return SessionSettings(greeting="", idle_reprompt_s=100.0, idle_hangup_s=200.0, **settings)  # type: ignore[arg-type]


def interrupted_call(
    clock: VirtualClock, second: str, *, speak_s: float, settings: SessionSettings, partials: int = 0
) -> CallHarness:
    """The caller asks, the agent starts a long answer, and at t=3 s the caller makes a sound
    of ``speak_s`` seconds that the recogniser hears as ``second``; then silence."""
    call = CallHarness.build(clock, ["What is my balance?", second, "Go on."], [ANSWER, "Sure.", "Okay."])
    call.stt.partial_every = partials

    async def caller() -> None:
        task = await call.start(settings)
        await call.channel.say(1.0)
        await call.channel.silence(2.0)
        await call.channel.say(speak_s)
        await call.channel.silence(ANSWER_S + 3.0)
        call.channel.leave()
        await task

    clock.run(caller(), until=60.0)
    return call


def synthesized(call: CallHarness) -> float:
    """Seconds of audio the synthesiser produced for the answer."""
    return sum(s.audio_s for s in call.tts.syntheses if s.text in ANSWER)


def counted(call: CallHarness, kind: str) -> float:
    return call.registry.get_sample_value("artagent_interruptions_total", {"kind": kind}) or 0.0


def ended(call: CallHarness) -> CallEnded:
    last = call.events[-1]
    assert isinstance(last, CallEnded)
    return last


def test_a_noise_over_the_agent_stops_it_and_counts_as_a_false_interruption(
    virtual_clock: VirtualClock,
) -> None:
    call = interrupted_call(virtual_clock, "", speak_s=0.1, settings=quiet())
    assert call.channel.flushes == [pytest.approx(3.06)]  # stopped at once: the VAD cannot tell
    assert len(call.of(PlaybackInterrupted)) == 1
    # ...but no words came: it resumes nothing, starts no turn, and is counted as false.
    assert len(call.model.calls) == 1
    assert not [f for f in call.channel.sent if f.at > 3.06]
    assert counted(call, "false") == 1 and counted(call, "barge_in") == 0
    assert (ended(call).false_interruptions, ended(call).barge_ins) == (1, 0)
    cut = call.session.history[-1] if call.session else None
    assert cut is not None and cut.interrupted and ANSWER.startswith(cut.content)


def test_words_over_the_agent_count_as_a_barge_in(virtual_clock: VirtualClock) -> None:
    call = interrupted_call(virtual_clock, "Wait, stop.", speak_s=0.8, settings=quiet())
    assert call.channel.flushes == [pytest.approx(3.06)]
    assert counted(call, "barge_in") == 1 and counted(call, "false") == 0
    assert (ended(call).false_interruptions, ended(call).barge_ins) == (0, 1)
    assert call.model.requests[1].messages[-1].content == "Wait, stop."


def test_with_fillers_an_uh_huh_pauses_the_agent_who_then_goes_on(virtual_clock: VirtualClock) -> None:
    settings = quiet(fillers=FILLERS)
    call = interrupted_call(virtual_clock, "Uh-huh.", speak_s=0.4, settings=settings)
    assert call.channel.flushes == []  # nothing thrown away
    assert call.of(PlaybackInterrupted) == []
    # Nothing was sent while the caller spoke and the recogniser worked; then the answer went
    # on from where it paused, to the end: every frame of it was sent.
    times = call.channel.sent_at
    gaps = [(a, b) for a, b in itertools.pairwise(times) if b - a > 0.1]
    assert len(gaps) == 1
    paused, resumed = gaps[0]
    assert paused == pytest.approx(3.05)  # the last frame before the VAD decided at 3.06
    assert resumed == pytest.approx(3.4 + 0.24 + 0.2, abs=0.03)  # speech end + hangover + the recogniser
    assert call.channel.audio_sent_s == pytest.approx(synthesized(call), abs=0.021)
    answers = call.of(AgentResponseGenerated)
    assert [(a.text, a.interrupted) for a in answers] == [(ANSWER, False)]
    # The filler is not a turn: the model was not asked about it and the history skips it.
    assert len(call.model.calls) == 1
    assert call.session is not None and "Uh-huh." not in [m.content for m in call.session.history]
    assert counted(call, "filler") == 1 and counted(call, "barge_in") == 0


def test_with_fillers_a_real_word_stops_the_agent_where_it_paused(virtual_clock: VirtualClock) -> None:
    settings = quiet(fillers=FILLERS)
    call = interrupted_call(
        virtual_clock, "Yeah, but how do I pay?", speak_s=1.0, settings=settings, partials=5
    )
    # The first partial ("Yeah") could still be a filler; the second ("Yeah, but") cannot.
    assert call.channel.flushes == [pytest.approx(3.2)]
    [interrupted] = call.of(PlaybackInterrupted)
    # Held when the VAD decided at 3.06: nothing was sent after that, and the 60 ms lead already
    # on the far side was heard too.
    heard_until = 3.06 + 0.06 - FIRST_FRAME
    assert interrupted.heard_ms == pytest.approx(heard_until * 1000, abs=20)
    assert call.model.requests[1].messages[-1].content == "Yeah, but how do I pay?"
    assert counted(call, "barge_in") == 1


def test_with_fillers_a_noise_is_false_and_the_agent_goes_on(virtual_clock: VirtualClock) -> None:
    settings = quiet(fillers=FILLERS)
    call = interrupted_call(virtual_clock, "", speak_s=0.1, settings=settings)
    assert call.channel.flushes == []
    assert call.channel.audio_sent_s == pytest.approx(synthesized(call), abs=0.021)
    assert counted(call, "false") == 1
    assert ended(call).false_interruptions == 1


def test_with_fillers_long_speech_without_words_yet_stops_the_agent_at_the_window(
    virtual_clock: VirtualClock,
) -> None:
    # A recogniser without partials gives nothing until the caller stops; 2 s of speech is no
    # filler, so the held agent is stopped when the window ends rather than talk over them.
    settings = quiet(fillers=FILLERS, false_interruption_s=1.0)
    call = interrupted_call(
        virtual_clock, "I want to talk to a person please.", speak_s=2.0, settings=settings
    )
    assert call.channel.flushes == [pytest.approx(3.06 + 1.0)]
    assert counted(call, "barge_in") == 1
    assert call.model.requests[1].messages[-1].content == "I want to talk to a person please."


def test_with_barge_in_off_the_agent_finishes_and_then_hears_the_caller(virtual_clock: VirtualClock) -> None:
    settings = quiet(barge_in=False)
    call = interrupted_call(virtual_clock, "Wait, stop.", speak_s=0.8, settings=settings)
    assert call.channel.flushes == []
    answers = call.of(AgentResponseGenerated)
    assert (answers[0].text, answers[0].interrupted) == (ANSWER, False)
    # The caller's words follow the answer they talked over, in the history the model sees.
    assert [m.content for m in call.model.requests[1].messages[-2:]] == [ANSWER, "Wait, stop."]
    assert call.tts.cancelled == 0


@pytest.mark.parametrize(
    ("text", "only"),
    [
        ("uh huh", True),
        ("Uh-huh.", True),
        ("Yeah, yeah. Okay!", True),
        ("mm-hmm right", True),
        ("yeah I want to pay", False),
        ("", False),
        ("uh", False),
        ("no", False),
    ],
)
def test_filler_words_match_loosely_and_only_whole_transcripts(text: str, only: bool) -> None:
    assert FillerWords(FILLERS).only_fillers(text) is only


def test_a_partial_that_may_still_become_a_filler_decides_nothing() -> None:
    fillers = FillerWords(FILLERS)
    pending = Interruption(started_at=0.0, held=True)
    assert pending.classify("uh", is_final=False, fillers=fillers) is None
    assert pending.classify("uh hu", is_final=False, fillers=fillers) is None
    assert pending.classify("uh huh", is_final=True, fillers=fillers) == "filler"
    assert pending.classify("uh no", is_final=False, fillers=fillers) == "barge_in"
    assert pending.classify("", is_final=True, fillers=fillers) == "false"
    assert pending.classify("uh-huh", is_final=True, fillers=FillerWords()) == "barge_in"
