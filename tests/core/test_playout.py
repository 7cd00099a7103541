"""Paced playout, on a virtual clock so the timings are exact and the tests instant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from artagent.session.playout import FrameQueue, LoopClock, Playout
from artagent.testing import VirtualClock

FRAME = b"\0" * 640


class StepClock:
    """Virtual time: sleeping advances it at once (one task sleeps at a time in these tests)."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


async def frames(
    n: int, clock: StepClock | None = None, gap_after: int = -1, gap_s: float = 0.0
) -> AsyncIterator[bytes]:
    for i in range(n):
        if i == gap_after and clock is not None:
            await clock.sleep(gap_s)
        yield FRAME


def _ms(times: list[float]) -> list[float]:
    return [round(t * 1000, 3) for t in times]


async def test_frames_leave_at_real_time_with_the_lead_buffered() -> None:
    clock = StepClock()
    sent: list[float] = []

    async def send(frame: bytes) -> None:
        sent.append(clock.now())

    playout = Playout(send, clock, lead_ms=60)
    first: list[float] = []
    heard = await playout.play(frames(10), on_first_frame=first.append)
    # Three frames plus the one playing go at once, then one every 20 ms.
    assert _ms(sent) == [0, 0, 0, 0, 20, 40, 60, 80, 100, 120]
    assert first == [0.0]
    assert heard == pytest.approx(200.0)
    assert clock.now() == pytest.approx(0.2)  # play() returns when the caller heard the end
    assert playout.underruns == 0


async def test_a_channel_asking_for_two_frames_per_send_gets_40_ms_messages_paced_as_40_ms() -> None:
    clock = StepClock()
    sent: list[tuple[float, int]] = []

    async def send(chunk: bytes) -> None:
        sent.append((clock.now(), len(chunk)))

    queue = FrameQueue()
    queue.put([FRAME] * 9)
    queue.close()
    playout = Playout(send, clock, lead_ms=60, frames_per_send=2)
    heard = await playout.play(queue)
    # Joined in pairs (the ninth frame goes alone: nothing waits for a partner). A message
    # leaves once no more than the lead is queued on the far side (which so holds at most the
    # lead plus one message), then one every 40 ms.
    assert [(round(t * 1000, 3), size) for t, size in sent] == [
        (0, 1280), (0, 1280), (20, 1280), (60, 1280), (100, 640),
    ]  # fmt: skip
    assert heard == pytest.approx(180.0)
    assert playout.frames_sent == 9 and playout.underruns == 0


async def test_frames_per_send_never_waits_for_a_frame_not_yet_made() -> None:
    clock = StepClock()
    sizes: list[int] = []

    async def send(chunk: bytes) -> None:
        sizes.append(len(chunk))

    playout = Playout(send, clock, lead_ms=60, frames_per_send=3)
    await playout.play(frames(4))  # an async iterator hands over one frame at a time
    assert sizes == [640] * 4
    with pytest.raises(ValueError, match="frames_per_send"):
        Playout(send, clock, frames_per_send=0)


async def test_stop_sends_nothing_more_and_reports_what_was_heard() -> None:
    clock = StepClock()
    sent: list[float] = []
    playout = Playout(lambda f: _record(sent, clock), clock, lead_ms=60)
    stopped: list[float] = []

    async def barge_in_at(t: float) -> None:
        while clock.now() < t:  # noqa: ASYNC110 - stepping virtual time, nothing to wait on
            await asyncio.sleep(0)
        stopped.append(playout.stop())

    stopper = asyncio.create_task(barge_in_at(0.1))
    heard = await playout.play(frames(50))
    await stopper
    assert heard == stopped[0]
    assert 80 <= heard <= 120  # the caller heard about 100 ms; the lead was still queued
    assert len(sent) <= heard / 20 + 4  # never more than the lead ahead of what was heard
    count = len(sent)
    await clock.sleep(1.0)
    assert len(sent) == count  # no frame of the interrupted utterance after stop()
    assert not playout.playing


async def _record(sent: list[float], clock: StepClock) -> None:
    sent.append(clock.now())


async def test_a_gap_in_synthesis_is_an_underrun_and_heard_counts_only_audio() -> None:
    clock = StepClock()
    playout = Playout(lambda f: _record([], clock), clock, lead_ms=40)
    heard = await playout.play(frames(10, clock, gap_after=5, gap_s=0.3))
    assert playout.underruns == 1
    assert heard == pytest.approx(200.0)


async def test_cancelling_the_turn_cancels_playout() -> None:
    clock = StepClock()
    playout = Playout(lambda f: _record([], clock), clock)

    async def turn() -> float:
        return await playout.play(frames(1000))

    task = asyncio.create_task(turn())
    while clock.now() < 0.05:  # noqa: ASYNC110 - stepping virtual time
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not playout.playing


async def test_one_utterance_at_a_time() -> None:
    clock = StepClock()
    playout = Playout(lambda f: _record([], clock), clock)
    first = asyncio.create_task(playout.play(frames(100)))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="already playing"):
        await playout.play(frames(1))
    playout.stop()
    await first


async def test_loop_clock_paces_in_real_time() -> None:
    sent: list[float] = []
    clock = LoopClock()
    playout = Playout(lambda f: _record_real(sent, clock), clock, lead_ms=20)
    start = clock.now()
    await playout.play(frames(8))
    assert clock.now() - start >= 0.16 - 0.005  # 8 frames of 20 ms cannot play faster


async def _record_real(sent: list[float], clock: LoopClock) -> None:
    sent.append(clock.now())


def test_a_frame_queue_filled_in_bursts_plays_paced_and_ends_when_closed() -> None:
    with VirtualClock() as clock:
        sent: list[float] = []

        async def send(frame: bytes) -> None:
            sent.append(clock.now())

        playout = Playout(send, clock, lead_ms=40)
        queue = FrameQueue()

        async def synthesize() -> None:
            queue.put([FRAME] * 4)  # a TTS chunk: several frames at once
            await clock.sleep(0.3)  # the next chunk comes late: the far side runs dry
            queue.put([FRAME] * 2)
            queue.close()

        async def main() -> float:
            producer = asyncio.create_task(synthesize())
            heard = await playout.play(queue)
            await producer
            return heard

        heard = clock.run(main())
    assert _ms(sent) == [0, 0, 0, 20, 300, 300]  # the lead at once, real time, a gap, the lead
    assert playout.underruns == 1
    assert heard == pytest.approx(120.0)


async def test_a_stopped_playout_whose_turn_is_cancelled_too_is_cancelled() -> None:
    clock = StepClock()
    playout = Playout(lambda f: _record([], clock), clock)
    queue = FrameQueue()
    queue.put([FRAME] * 1000)

    async def turn() -> float:
        return await playout.play(queue)

    task = asyncio.create_task(turn())
    while clock.now() < 0.1:  # noqa: ASYNC110 - stepping virtual time
        await asyncio.sleep(0)
    playout.stop()  # barge-in: the engine stops the playout, then cancels the reply
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not playout.playing


async def test_after_stop_the_same_task_can_play_the_next_utterance() -> None:
    clock = StepClock()
    sent: list[float] = []
    playout = Playout(lambda f: _record(sent, clock), clock)

    async def stop_at(t: float) -> None:
        while clock.now() < t:  # noqa: ASYNC110 - stepping virtual time
            await asyncio.sleep(0)
        playout.stop()

    stopper = asyncio.create_task(stop_at(0.1))
    first = await playout.play(frames(100))
    await stopper
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # no cancellation left pending on the caller
    count = len(sent)
    second = await playout.play(frames(5))  # the stop was taken back: nothing is cancelled
    assert 80 <= first <= 120
    assert second == pytest.approx(100.0)
    assert len(sent) == count + 5


async def test_loop_clock_sleeps_end_on_the_millisecond_after_their_deadline() -> None:
    clock = LoopClock()
    loop = asyncio.get_running_loop()
    woke: dict[int, float] = {}

    async def sleeper(index: int, seconds: float) -> None:
        deadline = loop.time() + seconds
        await clock.sleep(seconds)
        woke[index] = loop.time() - deadline

    sleepers = [asyncio.create_task(sleeper(i, 0.01 + i * 0.0001)) for i in range(20)]
    cancelled = asyncio.create_task(sleeper(99, 0.01))
    await asyncio.sleep(0)
    cancelled.cancel()  # a cancelled sleeper neither wakes nor keeps the others from waking
    await asyncio.gather(*sleepers)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert sorted(woke) == list(range(20))
    assert all(-1e-6 <= late < 0.02 for late in woke.values())  # not early; late by a tick or so


async def test_loop_clock_sleep_of_zero_yields_once() -> None:
    clock = LoopClock()
    order: list[str] = []

    async def other() -> None:
        order.append("other")

    task = asyncio.create_task(other())
    await clock.sleep(0)
    order.append("after sleep(0)")
    await task
    assert order == ["other", "after sleep(0)"]
