"""Paced playout: agent audio leaves as 20 ms frames at real time, a small lead ahead.

The far side (ACS, a browser) plays what it receives immediately and buffers the rest. Sending
at real time with only ``lead_ms`` buffered there means that at every moment the engine knows
what the caller has actually heard, and that a flush on barge-in throws away at most the lead.

The model of the far side is one number, ``play_end``: when it finishes playing everything
sent so far. Sending a frame extends it by 20 ms, from now if the far side had run dry (an
underrun: the caller heard a gap). What has been heard at time ``t`` is everything sent minus
what is still queued, ``max(0, play_end - t)``.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Protocol

__all__ = ["Clock", "FrameQueue", "LoopClock", "Playout"]


class Clock(Protocol):
    """The one clock of a call: monotonic seconds, and sleeping on it."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> Awaitable[None]:
        """Resume ``seconds`` later (zero or less: yield once). An ``async def`` will do."""
        ...


class LoopClock:
    """The event loop's monotonic clock (what asyncio sleeps on).

    A sleep ends on the first whole millisecond of the loop's clock at or after its deadline,
    and every sleep ending in the same millisecond shares one timer. A worker's playouts each
    wake once per 20 ms frame; sharing a timer spares each wake a timer of its own in the loop's
    heap (and the loop waits on its selector in whole milliseconds anyway).
    """

    __slots__ = ("_ticks",)

    def __init__(self) -> None:
        self._ticks: _Ticks | None = None

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def sleep(self, seconds: float) -> Awaitable[None]:
        loop = asyncio.get_running_loop()
        if seconds <= 0:
            return asyncio.sleep(0)
        ticks = self._ticks
        if ticks is None or ticks.loop is not loop:
            ticks = self._ticks = _Ticks(loop)
        return ticks.wait_until(loop.time() + seconds)


class _Ticks:
    """One loop's sleepers, by the millisecond they wake in; one timer per millisecond."""

    __slots__ = ("_due", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._due: dict[int, list[asyncio.Future[None]]] = {}

    def wait_until(self, when: float) -> asyncio.Future[None]:
        tick = math.ceil(when * 1000)
        waiter: asyncio.Future[None] = self.loop.create_future()
        waiters = self._due.get(tick)
        if waiters is None:
            waiters = self._due[tick] = []
            self.loop.call_at(tick / 1000, self._wake, tick)
        waiters.append(waiter)
        return waiter  # a cancelled sleeper's future is cancelled, and skipped when its time comes

    def _wake(self, tick: int) -> None:
        for waiter in self._due.pop(tick, ()):
            if not waiter.done():
                waiter.set_result(None)


class FrameQueue:
    """Frames handed from synthesis to playout: put in bursts (a TTS chunk is several frames),
    taken one at a time, without a task switch or a coroutine per frame while frames wait.

    :meth:`close` after the last frame; :meth:`Playout.play` then ends once they are sent.
    """

    __slots__ = ("_closed", "_frames", "_waiter")

    def __init__(self) -> None:
        self._frames: deque[bytes] = deque()
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None

    def put(self, frames: Iterable[bytes]) -> None:
        self._frames.extend(frames)
        self._wake()

    def close(self) -> None:
        self._closed = True
        self._wake()

    def pop(self) -> bytes | None:
        """The next frame if one is waiting, else None (see :meth:`wait`)."""
        return self._frames.popleft() if self._frames else None

    async def wait(self) -> bool:
        """Wait until a frame is waiting (True) or the queue is closed and empty (False)."""
        while not self._frames:
            if self._closed:
                return False
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Iterated:
    """Any async iterable of frames, read like a :class:`FrameQueue`."""

    __slots__ = ("_iterator", "_next")

    def __init__(self, frames: AsyncIterable[bytes]) -> None:
        self._iterator: AsyncIterator[bytes] = aiter(frames)
        self._next: bytes | None = None

    def pop(self) -> bytes | None:
        frame, self._next = self._next, None
        return frame

    async def wait(self) -> bool:
        try:
            self._next = await anext(self._iterator)
        except StopAsyncIteration:
            return False
        return True


class Playout:
    """Paces one call's outbound frames and accounts for what the caller heard.

    ``send`` delivers one frame to the channel. One utterance plays at a time; :meth:`stop`
    (barge-in) ends the current one at once and says how much of it was heard.
    """

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        clock: Clock,
        *,
        frame_ms: float = 20.0,
        lead_ms: float = 60.0,
        frames_per_send: int = 1,
    ) -> None:
        if frames_per_send < 1:
            raise ValueError(f"frames_per_send must be at least 1, not {frames_per_send}")
        self._send = send
        self._clock = clock
        self._frame_s = frame_ms / 1000
        self._per_send = frames_per_send
        """Frames joined into one ``send`` (fewer, larger messages: less CPU per second of audio)."""
        self._lead_s = lead_ms / 1000
        self._play_end = 0.0
        self._sent_s = 0.0
        self._player: asyncio.Task[Any] | None = None
        """The task inside :meth:`play`, while an utterance plays."""
        self.frames_sent = 0
        self.underruns = 0
        """Frames that found the far side already silent, after the first of an utterance."""
        self.first_frame_at: float | None = None
        self._stopped: dict[asyncio.Task[Any], float] = {}
        """The ms heard of an utterance stop() ended, by the task playing it, until play() returns."""
        self._go = asyncio.Event()
        self._go.set()

    @classmethod
    def for_channel(cls, channel: Any, clock: Clock, *, lead_ms: float) -> Playout:
        """The playout of a call's :class:`~artagent.providers.MediaChannel`: its ``send``, and
        as many frames per send as the channel asks for (``frames_per_send``, else one)."""
        per_send = getattr(channel, "frames_per_send", 1)
        return cls(channel.send, clock, lead_ms=lead_ms, frames_per_send=per_send)

    @property
    def playing(self) -> bool:
        return self._player is not None

    @property
    def held(self) -> bool:
        return not self._go.is_set()

    def hold(self) -> None:
        """Send nothing more until :meth:`resume` (the caller may be interrupting): the far side
        plays out the lead it has and then goes quiet; nothing is lost, nothing is flushed."""
        self._go.clear()

    def resume(self) -> None:
        """Go on from the next frame, where :meth:`hold` paused."""
        self._go.set()

    def heard_ms(self) -> float:
        """Milliseconds of the current utterance the caller has heard by now."""
        queued = max(0.0, self._play_end - self._clock.now())
        return max(0.0, self._sent_s - queued) * 1000

    async def play(
        self,
        frames: FrameQueue | AsyncIterable[bytes],
        on_first_frame: Callable[[float], None] | None = None,
    ) -> float:
        """Send ``frames`` paced; returns the ms heard (all of it, unless :meth:`stop` ended it).

        ``frames`` is a :class:`FrameQueue` (what the session's speaker fills, the cheapest per
        frame) or any async iterable. ``on_first_frame`` gets the clock time the first frame
        left, for latency at the wire. Cancelling the caller cancels the playout too.
        """
        if self.playing:
            raise RuntimeError("an utterance is already playing; stop() it first")
        player = asyncio.current_task()
        if player is None:
            raise RuntimeError("Playout.play() must run in an asyncio task")
        self._sent_s = 0.0
        self.first_frame_at = None
        self._player = player
        source = frames if isinstance(frames, FrameQueue) else _Iterated(frames)
        # The frames are sent by the task that called play(), not by a task of its own (one
        # task, coroutine and context fewer per utterance): stop() cancels this task, and the
        # cancellation that stop() asked for is taken back here.
        try:
            return await self._run(source, on_first_frame)
        except asyncio.CancelledError:
            heard = self._stopped.get(player)
            if heard is not None and player.uncancel() == 0:
                return heard
            raise  # the caller was cancelled too (or instead): so is the playout
        finally:
            self._stopped.pop(player, None)
            if self._player is player:
                self._player = None
            del player  # the traceback of a cancellation keeps this frame: no cycle through it

    async def _run(
        self, source: FrameQueue | _Iterated, on_first_frame: Callable[[float], None] | None
    ) -> float:
        clock, frame_s, lead_s, go = self._clock, self._frame_s, self._lead_s, self._go
        per_send = self._per_send
        while True:
            frame = source.pop()
            if frame is None:
                if await source.wait():
                    continue
                break
            count = 1
            if per_send > 1:  # the frames already waiting, up to per_send: never wait for more
                more = [frame]
                while count < per_send and (extra := source.pop()) is not None:
                    more.append(extra)
                    count += 1
                if count > 1:
                    frame = b"".join(more)
            wait = self._play_end - lead_s - clock.now()
            if wait > 0:  # only the lead may be buffered on the far side
                await clock.sleep(wait)
            if not go.is_set():
                await go.wait()
            now = clock.now()
            if self.first_frame_at is None:
                self.first_frame_at = now
                if on_first_frame is not None:
                    on_first_frame(now)
            elif now > self._play_end:
                self.underruns += 1
            await self._send(frame)
            self._play_end = (now if now > self._play_end else self._play_end) + frame_s * count
            self._sent_s += frame_s * count
            self.frames_sent += count
        await clock.sleep(self._play_end - clock.now())
        return self.heard_ms()

    def stop(self) -> float:
        """Barge-in: no further frame of this utterance is sent. Returns the ms heard.

        The caller still has up to ``lead_ms`` queued on the far side: the channel must be
        flushed (ACS StopAudio) right after this, and the heard figure assumes it is. The task
        inside :meth:`play` is woken by a cancellation at once; play() then returns the ms heard,
        unless that task was cancelled for its own reasons as well.
        """
        heard = self.heard_ms()
        player, self._player = self._player, None
        self._play_end = self._clock.now()
        self._sent_s = heard / 1000
        self._go.set()
        if player is not None:
            self._stopped[player] = heard
            player.cancel()
        return heard
