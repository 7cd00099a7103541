"""Audio at the edge of a realtime call: the caller's frames to the service's rate, the
service's audio back to the call's 20 ms frames, and where on the clock the caller said what.

Inside a call, audio is PCM16 at 16 kHz in 20 ms frames; the services take 24 kHz (Voice Live
also 16 kHz) and speak 24 kHz. The resampling is core's streaming soxr :class:`Resampler` with
the ``LQ`` recipe: between 16 and 24 kHz it keeps images 58 dB down, as ``HQ`` does (59 dB), but
holds back about 11 ms of audio instead of 21, which is latency on every turn (``QQ`` holds
back nothing but leaves images only 18 dB down).
"""

from __future__ import annotations

import base64
import binascii
import bisect
from collections import deque

from artagent.audio import FRAME_MS, SAMPLE_RATE, FrameSplitter, Quality, Resampler
from artagent.session.playout import Clock, FrameQueue

from artagent_voicelive.events import ProtocolError
from artagent_voicelive.protocol import OUTPUT_RATE

__all__ = ["AgentAudio", "CallerAudio"]

QUALITY: Quality = "LQ"
_KEPT_FRAMES = 3000
"""Arrival times kept for the caller's last minute of audio (speech ends are recent)."""


class CallerAudio:
    """The caller's frames on their way to the service, and when each arrived.

    The service's VAD says where speech stopped on the audio it was sent (``audio_end_ms``);
    the call's latency starts when that audio arrived from the caller, so the arrival time of
    every frame is kept (the last minute of them).
    """

    def __init__(self, clock: Clock, rate: int) -> None:
        self._clock = clock
        self._resampler = Resampler(SAMPLE_RATE, rate, QUALITY)
        self.position_ms = 0.0
        """Caller audio sent so far, on the input timeline the service counts in."""
        self._ends: deque[float] = deque(maxlen=_KEPT_FRAMES)
        self._times: deque[float] = deque(maxlen=_KEPT_FRAMES)

    def take(self, frame: bytes) -> bytes:
        """One caller frame, resampled for the service."""
        self.position_ms += len(frame) / 2 / SAMPLE_RATE * 1000
        self._ends.append(self.position_ms)
        self._times.append(self._clock.now())
        return self._resampler.process(frame)

    def arrived_at(self, audio_ms: float) -> float | None:
        """When the frame holding ``audio_ms`` of the input timeline arrived (ended, for the
        end of speech); ``None`` when it is older than what is kept or not sent yet."""
        index = bisect.bisect_left(self._ends, audio_ms - 1e-6)
        if index >= len(self._ends) or (index == 0 and audio_ms < self._ends[0] - FRAME_MS):
            return None
        return self._times[index]


class AgentAudio:
    """One response's audio: base64 24 kHz deltas in, 20 ms 16 kHz frames out, queued for the
    playout as they come (the service sends faster than real time)."""

    def __init__(self) -> None:
        self._resampler = Resampler(OUTPUT_RATE, SAMPLE_RATE, QUALITY)
        self._splitter = FrameSplitter(SAMPLE_RATE)
        self.frames = FrameQueue()
        """What :meth:`Playout.play` sends; closed once the response's audio is complete."""
        self._closed = False

    def feed(self, delta: str) -> int:
        """Decode and queue one delta; returns how many frames it completed."""
        if self._closed:
            return 0
        try:
            pcm = base64.b64decode(delta, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("an audio delta is not base64") from None
        if len(pcm) % 2:
            raise ProtocolError(f"an audio delta of {len(pcm)} bytes is not whole PCM16 samples")
        return self._put(self._splitter.feed(self._resampler.process(pcm)))

    def close(self) -> int:
        """The response's audio is complete: queue the tail, then the end."""
        if self._closed:
            return 0
        count = self._put(self._splitter.feed(self._resampler.flush()) + self._splitter.flush())
        self.drop()
        return count

    def drop(self) -> None:
        """No more audio: the playout ends after what is queued (nothing more is decoded)."""
        if not self._closed:
            self._closed = True
            self.frames.close()

    def _put(self, frames: list[bytes]) -> int:
        self.frames.put(frames)
        return len(frames)
