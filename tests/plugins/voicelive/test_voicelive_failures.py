"""When the realtime service fails, the caller is never left on a silent line: the failure is
reported (``error_occurred``), ``[session] tts`` says the failure message through the same
playout, the call is hung up and ``call_ended`` (reason ``error``) closes it; with no TTS
installed the call still ends cleanly. Other calls on the worker go on."""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from pathlib import Path

import pytest
from _voicelive_kit import Call, config, local_tts, runtime
from artagent.events import (
    AgentResponseGenerated,
    CallEnded,
    ErrorOccurred,
    PlaybackStarted,
    TranscriptionReceived,
)
from artagent.testing import frame_rms
from artagent_voicelive.config import VoiceLiveConfig
from fake_realtime import INAUDIBLE, FakeRealtime
from realtime_script import Answer, Context, Drop, Fail, Say, quoted

pytestmark = pytest.mark.timeout(60)
SORRY = VoiceLiveConfig().failure_message


def failing_on(words: str, failure: Fail | Drop):  # type: ignore[no-untyped-def]
    """A model that speaks normally until the caller says ``words``; then the service fails."""

    def brain(context: Context) -> Answer:
        if words in str(context.last.get("text", "")):
            return failure
        line = quoted(context.response_instructions)
        return [Say(line or "Go on.")]

    return brain


def assert_apologised_and_ended(call: Call, stage: str) -> ErrorOccurred:
    [error] = call.of(ErrorOccurred)
    assert (error.stage, error.recoverable) == (stage, False)
    sorry = call.replies[-1]
    assert sorry.text == SORRY
    types = call.types()
    assert types.index("error_occurred") < types.index(
        "agent_response_generated", types.index("error_occurred")
    )
    assert types[-1] == "call_ended"
    [ended] = call.of(CallEnded)
    assert ended.reason == "error" and call.channel.hangup_reason == "error"
    return error


async def test_a_service_that_cannot_be_reached_gets_an_apology_from_the_local_voice(data_dir: Path) -> None:
    tts = local_tts()
    async with FakeRealtime() as fake:
        fake.refuse_with = HTTPStatus.SERVICE_UNAVAILABLE
        rt = runtime(config(data_dir, fake.url), tts=tts)
        async with rt.running():
            call = Call(rt)
            await call.ended()
    error = assert_apologised_and_ended(call, "connect")
    assert error.kind == "ConnectError" and "HTTP 503" in error.message
    assert " ".join(s.text for s in tts.syntheses) == SORRY
    assert call.channel.audio_sent_s == pytest.approx(len(SORRY) * 0.004, abs=0.05)  # all of it was played
    assert call.of(PlaybackStarted)


async def test_an_error_event_mid_call_ends_in_an_apology(data_dir: Path) -> None:
    tts = local_tts()
    brain = failing_on("claim", Fail(code="server_error", message="The model crashed"))
    async with FakeRealtime(utterances=["I want to file a claim"], brain=brain, ms_per_char=4.0) as fake:
        rt = runtime(config(data_dir, fake.url), tts=tts)
        async with rt.running():
            call = Call(rt)
            await call.answered(1)  # the greeting, in the model's voice
            frames_before = len(call.channel.sent)
            await call.channel.say(0.4)
            await call.ended()
    error = assert_apologised_and_ended(call, "realtime")
    assert "server_error" in error.message and "The model crashed" in error.message
    assert " ".join(s.text for s in tts.syntheses) == SORRY  # the greeting was the model's own voice
    assert (len(call.channel.sent) - frames_before) * 0.02 == pytest.approx(len(SORRY) * 0.004, abs=0.05)
    assert fake.connections[0].closed


async def test_a_connection_dropped_mid_call_ends_in_an_apology(data_dir: Path) -> None:
    tts = local_tts()
    async with FakeRealtime(utterances=["I want to file a claim"], brain=failing_on("claim", Drop())) as fake:
        rt = runtime(config(data_dir, fake.url), tts=tts)
        async with rt.running():
            call = Call(rt)
            await call.answered(1)
            await call.channel.say(0.4)
            await call.ended()
    error = assert_apologised_and_ended(call, "realtime")
    assert error.kind == "ConnectionLost"
    assert " ".join(s.text for s in tts.syntheses) == SORRY


async def test_with_no_tts_installed_the_call_still_ends_cleanly(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeRealtime(utterances=["I want to file a claim"], brain=failing_on("claim", Drop())) as fake:
        rt = runtime(config(data_dir, fake.url))
        async with rt.running():
            call = Call(rt)
            await call.answered(1)
            frames = len(call.channel.sent)
            await call.channel.say(0.4)
            await call.ended()
    [error] = call.of(ErrorOccurred)
    assert error.stage == "realtime" and not error.recoverable
    assert len(call.channel.sent) == frames  # nothing to say it with
    assert [e.text for e in call.of(AgentResponseGenerated)][-1] != SORRY
    assert call.types()[-1] == "call_ended"
    assert call.of(CallEnded)[0].reason == "error" and call.channel.hangup_reason == "error"
    # The operator is told why the caller heard nothing.
    [warning] = [r for r in caplog.records if "no text-to-speech is installed" in r.getMessage()]
    assert warning.levelname == "WARNING" and "call-1" in warning.getMessage()


async def test_a_failing_call_does_not_disturb_another(data_dir: Path) -> None:
    def brain(context: Context) -> Answer:
        if "claim" in str(context.last.get("text", "")):
            return Drop()
        return [Say(quoted(context.response_instructions) or "Your deductible is 500 dollars.")]

    async with FakeRealtime(
        utterances=["I want to file a claim", "What is my deductible"], brain=brain
    ) as fake:
        rt = runtime(config(data_dir, fake.url), tts=local_tts())
        async with rt.running():
            failing, healthy = Call(rt, "call-a"), Call(rt, "call-b")
            await asyncio.gather(failing.answered(1), healthy.answered(1))
            await failing.channel.say(0.4)  # takes the first utterance: the service drops it
            await failing.ended()
            answer = await healthy.turn()
            await healthy.hang_up()
    assert failing.of(CallEnded)[0].reason == "error"
    assert answer.text == "Your deductible is 500 dollars."
    assert healthy.of(ErrorOccurred) == [] and healthy.of(CallEnded)[0].reason == "caller_hangup"


async def test_the_apology_is_spoken_by_the_local_piper_voice(data_dir: Path) -> None:
    """With the local speech plugin, ``[session] tts = "piper"`` says sorry: real synthesis."""
    async with FakeRealtime(utterances=["I want to file a claim"], brain=failing_on("claim", Drop())) as fake:
        loaded = config(data_dir, fake.url, session='mode = "voicelive"\ntts = "piper"', local_speech=True)
        rt = runtime(loaded)
        async with rt.running():
            assert await rt.warmed_up()
            call = Call(rt)
            await call.answered(1)
            frames = len(call.channel.sent)
            await call.channel.say(0.4)
            await call.ended(timeout=30)
    assert_apologised_and_ended(call, "realtime")
    spoken = call.channel.sent[frames:]
    assert len(spoken) * 0.02 > 3.0  # a real voice takes seconds to say the whole message
    assert max(frame_rms(f.pcm) for f in spoken) > 0.01  # and it is not silence


async def test_a_transcription_that_fails_is_reported_and_the_call_goes_on(data_dir: Path) -> None:
    def brain(context: Context) -> Answer:
        return [Say(quoted(context.response_instructions) or "Sorry, could you repeat that?")]

    async with FakeRealtime(utterances=[INAUDIBLE, "My claim"], brain=brain) as fake:
        rt = runtime(config(data_dir, fake.url))
        async with rt.running():
            call = Call(rt)
            await call.answered(1)
            first = await call.turn()
            second = await call.turn()
            await call.hang_up()
    [error] = call.of(ErrorOccurred)
    assert (error.stage, error.recoverable, error.kind) == ("transcription", True, "audio_unintelligible")
    assert first.text == second.text == "Sorry, could you repeat that?"
    assert [e.text for e in call.of(TranscriptionReceived) if e.is_final] == ["My claim"]
    assert call.of(CallEnded)[0].reason == "caller_hangup"
