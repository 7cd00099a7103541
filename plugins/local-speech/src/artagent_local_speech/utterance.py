"""The caller audio of one utterance, as the recogniser collects it between two end_of_speech().

The engine pushes every frame, silence included, and says only where speech *ended* (its VAD's
``end_of_speech``). An :class:`Utterance` keeps what matters for recognition and for deciding
early: its frames (bounded; only a short pre-roll while nobody speaks), where loud frames
began and ended, and so how long the caller has been quiet.

Loudness is the frame's RMS level: a frame is *voiced* when it is above ``FLOOR_DBFS`` and
within ``MARGIN_DB`` of the loudest frame so far. This is cruder than the VAD, which is why it
is only used to *start* work early (speculative transcription) and to trim leading silence;
what counts as the utterance is always decided by the engine's end_of_speech.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from artagent.audio import rms_dbfs

__all__ = ["FLOOR_DBFS", "MARGIN_DB", "Utterance"]

RATE = 16_000
FLOOR_DBFS = -55.0
"""Frames quieter than this are never voiced (line noise, comfort noise)."""
MARGIN_DB = 35.0
"""Frames more than this below the utterance's loudest are not voiced (breath, echo, hum)."""
PREROLL_MS = 300.0
"""Audio kept before the first voiced frame (the onset of a soft consonant)."""


class Utterance:
    """Frames from ``start_ms`` (the call's audio timeline) on, with their loudness."""

    def __init__(self, start_ms: float, *, max_s: float) -> None:
        self.start_ms = start_ms
        """Timeline position of the first sample kept."""
        self._max_samples = int(max_s * RATE)
        self._frames: deque[np.ndarray] = deque()
        self.samples = 0
        self.peak_dbfs = -100.0
        self.voiced_samples = 0
        self.voice_start: int | None = None
        """Sample index (from ``start_ms``) where the first voiced frame began."""
        self.voice_end = 0
        """Sample index where the last voiced frame ended."""

    @property
    def end_ms(self) -> float:
        return self.start_ms + self.samples * 1000 / RATE

    @property
    def quiet_ms(self) -> float:
        """How long since the last voiced frame (0 while voiced, the whole length if never)."""
        return (self.samples - self.voice_end) * 1000 / RATE

    @property
    def voiced_ms(self) -> float:
        return self.voiced_samples * 1000 / RATE

    def add(self, pcm: bytes) -> bool:
        """Append one frame (PCM16 at 16 kHz); returns whether it is voiced."""
        level = rms_dbfs(pcm)
        self.peak_dbfs = max(self.peak_dbfs, level)
        voiced = level >= FLOOR_DBFS and level >= self.peak_dbfs - MARGIN_DB
        frame = np.frombuffer(pcm, dtype="<i2")
        if voiced:
            if self.voice_start is None:
                self.voice_start = self.samples
            self.voiced_samples += frame.size
            self.voice_end = self.samples + frame.size
        self._frames.append(frame)
        self.samples += frame.size
        self._bound()
        return voiced

    def audio(self) -> np.ndarray:
        """The samples to recognise (float32 in [-1, 1]): from the pre-roll before the first
        voiced frame to the end. An utterance that was never voiced is given whole."""
        pcm = np.concatenate(self._frames) if self._frames else np.zeros(0, dtype=np.int16)
        if self.voice_start is not None:
            pcm = pcm[max(0, self.voice_start - int(PREROLL_MS * RATE / 1000)) :]
        return pcm.astype(np.float32) / 32768.0

    def audio_start_ms(self) -> float:
        """Timeline position of the first sample :meth:`audio` returns."""
        if self.voice_start is None:
            return self.start_ms
        return self.start_ms + max(0, self.voice_start - int(PREROLL_MS * RATE / 1000)) * 1000 / RATE

    def speech_end_s(self) -> float:
        """Where the last voiced frame ends, in seconds from the start of :meth:`audio`."""
        if self.voice_start is None:
            return self.samples / RATE
        return self.voice_end / RATE - (self.audio_start_ms() - self.start_ms) / 1000

    def merged_into(self, later: Utterance) -> Utterance:
        """This utterance and the ``later`` one that follows it on the timeline, as one."""
        merged = Utterance(self.start_ms, max_s=self._max_samples / RATE)
        for frame in [*self._frames, *later._frames]:
            merged.add(frame.tobytes())
        return merged

    def _bound(self) -> None:
        """Drop the oldest frames: before any voice, all but the pre-roll; else past ``max_s``."""
        keep = self._max_samples if self.voice_start is not None else int(2 * PREROLL_MS * RATE / 1000)
        while self._frames and self.samples - self._frames[0].size >= keep:
            dropped = self._frames.popleft().size
            self.samples -= dropped
            self.start_ms += dropped * 1000 / RATE
            self.voice_end = max(0, self.voice_end - dropped)
            if self.voice_start is not None:
                self.voice_start = max(0, self.voice_start - dropped)
