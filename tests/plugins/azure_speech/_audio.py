"""Caller audio for the recognition tests: 20 ms PCM16 frames at 16 kHz, voiced or silent."""

from __future__ import annotations

import numpy as np

RATE = 16000
FRAME = RATE // 50


def voiced(ms: int) -> list[bytes]:
    """A 220 Hz tone loud enough for the fake service to count as speech."""
    t = np.arange(ms * RATE // 1000) / RATE
    pcm = (np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes()
    return [pcm[i : i + FRAME * 2] for i in range(0, len(pcm), FRAME * 2)]


def silence(ms: int) -> list[bytes]:
    return [bytes(FRAME * 2)] * (ms // 20)
