"""A scripted caller on the far side of a :class:`~artagent.providers.MediaChannel`.

The test plays the caller: it speaks (tone) and pauses (silence) in seconds, and the frames
arrive as they would from a phone, one every 20 ms on the injected clock, each once it has
been fully spoken. What the agent sends back is recorded with the clock time it left, with
every flush (barge-in) and the hang-up, so timings are asserted at the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from artagent.session.playout import Clock
from artagent.testing.audio import FRAME_BYTES, FRAME_S, silence_frame, tone_frame

__all__ = ["FakeChannel", "SentFrame"]


@dataclass(frozen=True)
class SentFrame:
    at: float
    """Clock time the agent sent it."""
    pcm: bytes


class FakeChannel:
    """A MediaChannel with a scripted caller; one consumer reads :meth:`frames`."""

    def __init__(self, clock: Clock, *, strict_frames: bool = True) -> None:
        self.clock = clock
        self.strict_frames = strict_frames
        """Reject an outbound frame that is not exactly 20 ms at 16 kHz (640 bytes)."""
        self.sent: list[SentFrame] = []
        self.flushes: list[float] = []
        """Clock times of each flush()."""
        self.sent_before_flush: list[int] = []
        """How many frames had been sent when each flush() came."""
        self.hangup_reason: str | None = None
        self.hangup_at: float | None = None
        self.inbound_frames = 0
        """Frames the caller has delivered so far."""
        self._inbound: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._ended = False

    # -- the caller's side (the test) ---------------------------------------------------------
    def push(self, frame: bytes) -> None:
        """Deliver one frame now."""
        if self._ended:
            raise RuntimeError("the call is over: no more caller audio")
        self.inbound_frames += 1
        self._inbound.put_nowait(frame)

    async def say(self, seconds: float, *, freq: float = 220.0, amplitude: float = 0.3) -> None:
        """Speak (a tone) for ``seconds``: a frame every 20 ms, returning when the last arrived."""
        await self._play(tone_frame(freq, amplitude), seconds)

    async def silence(self, seconds: float) -> None:
        """Stay silent for ``seconds``, still delivering a frame every 20 ms as a phone does."""
        await self._play(silence_frame(), seconds)

    def leave(self) -> None:
        """The caller goes away: frames() ends after the frames already delivered."""
        self._end()

    async def _play(self, frame: bytes, seconds: float) -> None:
        start = self.clock.now()
        for k in range(1, round(seconds / FRAME_S) + 1):
            await self.clock.sleep(start + k * FRAME_S - self.clock.now())
            if self._ended:
                return
            self.push(frame)

    # -- the agent's side (MediaChannel) ------------------------------------------------------
    async def frames(self) -> AsyncGenerator[bytes, None]:
        while (frame := await self._inbound.get()) is not None:
            yield frame

    async def send(self, frame: bytes) -> None:
        if self.hangup_reason is not None:
            raise ConnectionError(f"send() after hangup({self.hangup_reason!r})")
        if self.strict_frames and len(frame) != FRAME_BYTES:
            raise ValueError(
                f"expected one 20 ms frame of 16 kHz PCM16 ({FRAME_BYTES} bytes), got {len(frame)}"
            )
        self.sent.append(SentFrame(self.clock.now(), frame))

    async def flush(self) -> None:
        self.flushes.append(self.clock.now())
        self.sent_before_flush.append(len(self.sent))

    async def hangup(self, reason: str) -> None:
        if self.hangup_reason is None:
            self.hangup_reason = reason
            self.hangup_at = self.clock.now()
            self._end()

    # -- reading the record -------------------------------------------------------------------
    @property
    def sent_at(self) -> list[float]:
        """Clock times of the outbound frames, in order."""
        return [frame.at for frame in self.sent]

    @property
    def first_sent_at(self) -> float | None:
        return self.sent[0].at if self.sent else None

    @property
    def audio_sent_s(self) -> float:
        return len(self.sent) * FRAME_S

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._inbound.put_nowait(None)
