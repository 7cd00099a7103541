"""The simulated caller's voice: a WAV file, or words spoken by the ``[session] tts`` provider,
at the media stream's rate; and the call's two sides written back as WAV files."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np
from artagent.audio import Resampler, resample

__all__ = ["CallerAudioError", "read_wav", "synthesize", "write_wav"]


class CallerAudioError(ValueError):
    """The caller's audio cannot be made (a bad WAV file, no voice installed)."""


def read_wav(path: Path, rate: int) -> bytes:
    """A PCM16 WAV file (any rate, mono or stereo) as mono PCM16 at ``rate``."""
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getsampwidth() != 2:
                raise CallerAudioError(
                    f"{path}: {8 * wav.getsampwidth()}-bit audio; a 16-bit PCM WAV is needed"
                )
            channels, source_rate = wav.getnchannels(), wav.getframerate()
            pcm = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise CallerAudioError(f"{path}: not a readable WAV file ({exc})") from None
    if channels > 1:
        samples = np.frombuffer(pcm, dtype="<i2").reshape(-1, channels).mean(axis=1)
        pcm = samples.round().astype("<i2").tobytes()
    return resample(pcm, source_rate, rate) if source_rate != rate else pcm


async def synthesize(tts: Any, text: str, rate: int) -> bytes:
    """``text`` spoken by ``tts`` (a :class:`~artagent.providers.TTSProvider`) at ``rate``."""
    out = bytearray()
    resampler: Resampler | None = None
    async for chunk in tts.synthesize(text):
        if resampler is None or resampler.in_rate != chunk.sample_rate:
            if resampler is not None:
                out += resampler.flush()
            resampler = Resampler(chunk.sample_rate, rate)
        out += resampler.process(chunk.pcm)
    if resampler is not None:
        out += resampler.flush()
    return bytes(out)


def write_wav(path: Path, pcm: bytes, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
