"""Barge-in in the voicelive mode: the service hears the caller over the agent; the agent stops at
once (playout stopped, the channel flushed), the model forgets what was not heard
(``conversation.item.truncate`` to the milliseconds played, ``response.cancel`` while it was
still speaking), and the history keeps only what the caller heard."""

from __future__ import annotations

from pathlib import Path

import pytest
from _voicelive_kit import Call, config, runtime
from artagent.events import CallEnded, ErrorOccurred, PlaybackInterrupted, PlaybackStarted
from fake_realtime import FakeRealtime
from realtime_script import Context, Say, echo_brain, quoted

pytestmark = pytest.mark.timeout(60)
LEAD_MS = 60.0
MS_PER_CHAR = 8.0


async def interrupted_call(data_dir: Path, fake: FakeRealtime) -> Call:
    """The caller talks over the greeting (the insurance front desk's, about 1.4 s long) half a
    second into it, then waits for the answer."""
    rt = runtime(config(data_dir, fake.url))
    async with rt.running():
        call = Call(rt)
        await call.until(lambda: call.of(PlaybackStarted), what="the greeting")
        await call.channel.silence(0.5)
        await call.channel.say(0.4)
        await call.answered(2)  # the greeting as far as it was heard, then the answer
        await call.hang_up()
    return call


def plain_assistant(context: Context) -> list[Say]:
    line = quoted(context.response_instructions)
    return [Say(line)] if line else [Say("Of course, what is your question?")]


async def test_the_caller_stops_the_agent_and_the_model_keeps_only_what_was_heard(data_dir: Path) -> None:
    async with FakeRealtime(
        utterances=["Sorry, I have a question"], brain=plain_assistant, pace=8.0, ms_per_char=MS_PER_CHAR
    ) as fake:
        call = await interrupted_call(data_dir, fake)
    [interrupted] = call.of(PlaybackInterrupted)
    greeting, answer = call.replies
    channel, connection = call.channel, fake.connections[0]
    full = next(i["text"] for i in connection.items if i.get("role") == "assistant")

    # The agent stopped at once: the channel was flushed and nothing more of the greeting was
    # sent; the next audio is the answer, once the caller had finished (0.4 s later at least).
    [flushed_at] = channel.flushes
    [before_flush] = channel.sent_before_flush
    assert channel.sent[before_flush].at - flushed_at >= 0.4
    played_ms = before_flush * 20.0
    assert played_ms - LEAD_MS - 40 <= interrupted.heard_ms <= played_ms
    assert interrupted.heard_ms < len(full) * MS_PER_CHAR / 2  # about 0.5 s of 1.4 s was heard

    # The model forgets the rest: the greeting item is truncated where the caller stopped hearing.
    [truncate] = connection.of("conversation.item.truncate")
    assert truncate["audio_end_ms"] == int(interrupted.heard_ms)
    assert truncate["content_index"] == 0
    assert connection.of("response.cancel") == []  # the greeting had been generated already

    # The history keeps what was heard, marked interrupted; then the call goes on.
    assert greeting.interrupted and 0 < len(greeting.text.split()) < len(full.split()) / 2
    assert full.startswith(greeting.text)
    assert (answer.text, answer.interrupted) == ("Of course, what is your question?", False)
    [ended] = call.of(CallEnded)
    assert ended.barge_ins == 1


async def test_a_response_still_being_spoken_is_cancelled_and_the_race_is_no_error(data_dir: Path) -> None:
    # Real-time generation: the greeting is still being generated when the caller talks.
    async with FakeRealtime(
        utterances=["Wait, one question"], brain=echo_brain, pace=1.0, ms_per_char=MS_PER_CHAR
    ) as fake:
        call = await interrupted_call(data_dir, fake)
    connection = fake.connections[0]
    # The client cancelled; the service had cancelled on its own too (interrupt_response), so
    # it answered the cancellation with an error, which does not end the call.
    assert len(connection.of("response.cancel")) == 1
    assert connection.of("conversation.item.truncate")
    assert call.of(ErrorOccurred) == []
    greeting, answer = call.replies
    assert greeting.interrupted and answer.text == "You said: Wait, one question."
    assert [e.reason for e in call.of(CallEnded)] == ["caller_hangup"]
