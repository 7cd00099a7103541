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
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Protocol

__all__ = ["Clock", "LoopClock", "Playout"]


class Clock(Protocol):
    """The one clock of a call: monotonic seconds, and sleeping on it."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The event loop's monotonic clock (what asyncio sleeps on)."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


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
    ) -> None:
        self._send = send
        self._clock = clock
        self._frame_s = frame_ms / 1000
        self._lead_s = lead_ms / 1000
        self._play_end = 0.0
        self._sent_s = 0.0
        self._task: asyncio.Task[float] | None = None
        self.frames_sent = 0
        self.underruns = 0
        """Frames that found the far side already silent, after the first of an utterance."""
        self.first_frame_at: float | None = None
        self._stopped_heard: float | None = None
        self._go = asyncio.Event()
        self._go.set()

    @property
    def playing(self) -> bool:
        return self._task is not None and not self._task.done()

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
        self, frames: AsyncIterable[bytes], on_first_frame: Callable[[float], None] | None = None
    ) -> float:
        """Send ``frames`` paced; returns the ms heard (all of it, unless :meth:`stop` ended it).

        ``on_first_frame`` gets the clock time the first frame left, for latency at the wire.
        Cancelling the caller cancels the playout too.
        """
        if self.playing:
            raise RuntimeError("an utterance is already playing; stop() it first")
        self._sent_s = 0.0
        self._stopped_heard = None
        self.first_frame_at = None
        task = self._task = asyncio.create_task(self._run(frames, on_first_frame), name="playout")
        try:
            return await task
        except asyncio.CancelledError:
            if self._stopped_heard is not None and not _caller_cancelled():
                return self._stopped_heard
            raise
        finally:
            if self._task is task:
                self._task = None
            # The traceback of a cancellation keeps this frame: holding the task here would
            # tie the error, the frames and the tasks in a cycle only a full collection frees.
            del task

    async def _run(
        self, frames: AsyncIterable[bytes], on_first_frame: Callable[[float], None] | None
    ) -> float:
        async for frame in frames:
            await self._pace()
            if not self._go.is_set():
                await self._go.wait()
            now = self._clock.now()
            if self.first_frame_at is None:
                self.first_frame_at = now
                if on_first_frame is not None:
                    on_first_frame(now)
            elif now > self._play_end:
                self.underruns += 1
            await self._send(frame)
            self._play_end = max(now, self._play_end) + self._frame_s
            self._sent_s += self._frame_s
            self.frames_sent += 1
        await self._clock.sleep(self._play_end - self._clock.now())
        return self.heard_ms()

    async def _pace(self) -> None:
        """Wait until only the lead is left buffered on the far side."""
        wait = self._play_end - self._lead_s - self._clock.now()
        if wait > 0:
            await self._clock.sleep(wait)

    def stop(self) -> float:
        """Barge-in: no further frame of this utterance is sent. Returns the ms heard.

        The caller still has up to ``lead_ms`` queued on the far side: the channel must be
        flushed (ACS StopAudio) right after this, and the heard figure assumes it is.
        """
        heard = self.heard_ms()
        task = self._task
        self._play_end = self._clock.now()
        self._sent_s = heard / 1000
        self._go.set()
        if task is not None and not task.done():
            self._stopped_heard = heard
            task.cancel()
        return heard


def _caller_cancelled() -> bool:
    """The task running this was itself cancelled (not only the playout, by :meth:`Playout.stop`).

    A function of its own so that the caller's frame holds no reference to its task."""
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0
