"""Test audio: tone and silence frames in the call's format (PCM16 mono, 16 kHz, 20 ms).

A tone stands for speech and silence for its absence; :class:`~artagent.testing.fakes.FakeVAD`
tells them apart by energy, so a scenario is written in seconds of speech and of silence.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "FRAME_BYTES",
    "FRAME_MS",
    "FRAME_S",
    "SAMPLE_RATE",
    "frame_rms",
    "silence_frame",
    "tone",
    "tone_frame",
]

SAMPLE_RATE = 16_000
FRAME_MS = 20
FRAME_S = FRAME_MS / 1000
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2


@functools.lru_cache(maxsize=64)
def tone(samples: int, freq: float = 220.0, amplitude: float = 0.3, sample_rate: int = SAMPLE_RATE) -> bytes:
    """``samples`` of a sine at ``freq`` Hz, ``amplitude`` a fraction of full scale, as PCM16."""
    if not 0.0 <= amplitude <= 1.0:
        raise ValueError(f"amplitude must be within [0, 1], got {amplitude}")
    t = np.arange(samples, dtype=np.float64) / sample_rate
    wave = np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t))
    return wave.astype("<i2").tobytes()


def tone_frame(freq: float = 220.0, amplitude: float = 0.3) -> bytes:
    """One 20 ms frame of tone at 16 kHz (640 bytes): speech, as far as an energy VAD can tell."""
    return tone(FRAME_BYTES // 2, freq, amplitude, SAMPLE_RATE)


def silence_frame() -> bytes:
    """One 20 ms frame of digital silence at 16 kHz (640 bytes)."""
    return bytes(FRAME_BYTES)


def frame_rms(frame: bytes) -> float:
    """Root mean square of PCM16 audio, as a fraction of full scale (0 for an empty frame)."""
    if len(frame) < 2:
        return 0.0
    samples = np.frombuffer(frame, dtype="<i2", count=len(frame) // 2).astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples)) / 32768)
