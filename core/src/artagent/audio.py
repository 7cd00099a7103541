"""The internal audio format and the conversions at its edges.

Inside a call, audio is PCM16 little-endian mono at 16 kHz in 20 ms frames (320 samples,
640 bytes). Channels and speech providers speak other rates (24 kHz TTS voices, 8 kHz G.711
mu-law telephony); they convert at the edge with the helpers here and the rest of the session
never sees another format.

Everything here runs on the per-frame audio path, so it is synchronous, allocation-light and
free of Python loops over samples: numpy views the bytes, soxr and audioop do the signal work.
"""

from __future__ import annotations

import math
import sys
import warnings
from typing import Final, Literal

import numpy as np
import soxr

if sys.version_info >= (3, 13):
    import audioop  # provided by the audioop-lts distribution
else:
    with warnings.catch_warnings():
        # The standard library module is deprecated on 3.11/3.12 and removed in 3.13, where the
        # audioop-lts package takes over under the same name and API.
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop

__all__ = [
    "DBFS_FLOOR",
    "FRAME_BYTES",
    "FRAME_MS",
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "SAMPLE_WIDTH",
    "TELEPHONY_RATE",
    "FrameSplitter",
    "Quality",
    "Resampler",
    "frame_bytes",
    "frame_duration_ms",
    "mulaw_to_pcm16",
    "pcm16_to_mulaw",
    "resample",
    "rms_dbfs",
]

SAMPLE_RATE: Final = 16_000
"""Sample rate of audio inside a call, in Hz."""
FRAME_MS: Final = 20
"""Duration of one frame, in milliseconds."""
SAMPLE_WIDTH: Final = 2
"""Bytes per PCM16 sample."""
FRAME_SAMPLES: Final = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES: Final = FRAME_SAMPLES * SAMPLE_WIDTH
TELEPHONY_RATE: Final = 8_000
"""Sample rate of G.711 telephony audio, in Hz."""
DBFS_FLOOR: Final = -100.0
"""What `rms_dbfs` returns for digital silence: finite, so it can go into metrics and JSON."""

Quality = Literal["QQ", "LQ", "MQ", "HQ", "VHQ"]
"""soxr quality recipes. HQ buffers about 20-40 ms at 16 <-> 24 kHz; QQ about 0.2 ms but aliases."""

_FULL_SCALE: Final = 32768.0
_EMPTY: Final = np.zeros(0, dtype=np.int16)


def _check_rate(name: str, rate: int) -> None:
    if rate <= 0:
        raise ValueError(f"{name} must be a positive sample rate in Hz, got {rate}")


def _check_pcm16(name: str, data: bytes | bytearray | memoryview) -> None:
    if len(data) % SAMPLE_WIDTH:
        raise ValueError(f"{name} must hold whole PCM16 samples (an even byte count), got {len(data)} bytes")


def frame_bytes(rate: int = SAMPLE_RATE, frame_ms: int = FRAME_MS) -> int:
    """Byte size of one PCM16 mono frame of `frame_ms` at `rate`."""
    _check_rate("rate", rate)
    if frame_ms <= 0:
        raise ValueError(f"frame_ms must be positive, got {frame_ms}")
    samples = rate * frame_ms // 1000
    if samples * 1000 != rate * frame_ms:
        raise ValueError(f"frame_ms={frame_ms} is not a whole number of samples at rate={rate}")
    return samples * SAMPLE_WIDTH


def frame_duration_ms(n_bytes: int, rate: int = SAMPLE_RATE, sample_width: int = SAMPLE_WIDTH) -> float:
    """How long `n_bytes` of mono audio last at `rate`; pass sample_width=1 for mu-law."""
    _check_rate("rate", rate)
    if sample_width <= 0:
        raise ValueError(f"sample_width must be positive, got {sample_width}")
    if n_bytes < 0 or n_bytes % sample_width:
        raise ValueError(f"n_bytes must be a non-negative multiple of {sample_width}, got {n_bytes}")
    return n_bytes / sample_width * 1000.0 / rate


class FrameSplitter:
    """Cuts a stream of PCM16 chunks of any size into exact frames.

    Network messages and TTS chunks rarely line up with 20 ms, and a chunk may even end in the
    middle of a sample; the splitter keeps the remainder until the next `feed`. Any chunking of
    the same byte stream yields the same frames.
    """

    __slots__ = ("_buf", "frame_bytes")

    def __init__(self, rate: int = SAMPLE_RATE, frame_ms: int = FRAME_MS) -> None:
        self.frame_bytes = frame_bytes(rate, frame_ms)
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back because they do not fill a frame yet."""
        return len(self._buf)

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[bytes]:
        """Add `chunk` and return every frame now complete, oldest first."""
        size = self.frame_bytes
        buf = self._buf
        if not buf and len(chunk) == size:
            return [bytes(chunk)]
        buf += chunk
        end = len(buf) - len(buf) % size
        if not end:
            return []
        view = memoryview(buf)
        frames = [view[i : i + size].tobytes() for i in range(0, end, size)]
        view.release()
        del buf[:end]
        return frames

    def flush(self, pad: bool = True) -> list[bytes]:
        """End of stream: return the last partial frame, zero-padded when `pad`, and reset.

        Raises ValueError when the stream ended in the middle of a sample.
        """
        rest = bytes(self._buf)
        self._buf.clear()
        _check_pcm16("the stream", rest)
        if not rest:
            return []
        return [rest.ljust(self.frame_bytes, b"\x00") if pad else rest]

    def clear(self) -> None:
        """Drop the remainder, for barge-in: what was not played is not wanted any more."""
        self._buf.clear()


class Resampler:
    """Streaming PCM16 rate converter; state carries across chunks so boundaries do not click.

    soxr keeps a filter delay: output lags input by a few milliseconds and `flush` returns the
    tail at the end of the stream. Its int16 output is dithered, so two runs over the same input
    may differ by a least significant bit or two. When the rates are equal, chunks pass through
    untouched.
    """

    __slots__ = ("_stream", "in_rate", "out_rate", "quality")

    def __init__(self, in_rate: int, out_rate: int, quality: Quality = "HQ") -> None:
        _check_rate("in_rate", in_rate)
        _check_rate("out_rate", out_rate)
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.quality = quality
        self._stream: soxr.ResampleStream | None = None
        if in_rate != out_rate:
            self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=quality)

    def process(self, chunk: bytes | bytearray | memoryview) -> bytes:
        """Convert `chunk`; the result may be shorter or longer than its share while soxr buffers."""
        _check_pcm16("chunk", chunk)
        if self._stream is None:
            return bytes(chunk)
        if not len(chunk):
            return b""
        samples = np.frombuffer(chunk, dtype="<i2")
        out: np.ndarray = self._stream.resample_chunk(samples)
        return out.tobytes()

    def flush(self) -> bytes:
        """End of stream: return what soxr still holds and make the resampler ready for reuse."""
        if self._stream is None:
            return b""
        out: np.ndarray = self._stream.resample_chunk(_EMPTY, last=True)
        self._stream.clear()
        return out.tobytes()

    def reset(self) -> None:
        """Forget buffered audio without returning it (barge-in)."""
        if self._stream is not None:
            self._stream.clear()


def resample(
    pcm: bytes | bytearray | memoryview, in_rate: int, out_rate: int, quality: Quality = "HQ"
) -> bytes:
    """Convert a whole PCM16 buffer from `in_rate` to `out_rate` in one go."""
    _check_pcm16("pcm", pcm)
    _check_rate("in_rate", in_rate)
    _check_rate("out_rate", out_rate)
    if in_rate == out_rate or not len(pcm):
        return bytes(pcm)
    out: np.ndarray = soxr.resample(np.frombuffer(pcm, dtype="<i2"), in_rate, out_rate, quality=quality)
    return out.tobytes()


def pcm16_to_mulaw(pcm: bytes | bytearray | memoryview) -> bytes:
    """Encode PCM16 as G.711 mu-law, one byte per sample. Resample to 8 kHz first for telephony."""
    _check_pcm16("pcm", pcm)
    return audioop.lin2ulaw(pcm, SAMPLE_WIDTH)


def mulaw_to_pcm16(data: bytes | bytearray | memoryview) -> bytes:
    """Decode G.711 mu-law to PCM16 at the same rate (8 kHz for telephony)."""
    return audioop.ulaw2lin(data, SAMPLE_WIDTH)


def rms_dbfs(frame: bytes | bytearray | memoryview) -> float:
    """Loudness of a PCM16 frame in dB relative to a full-scale square wave.

    A full-scale sine reads about -3 dBFS. Silence and empty frames read `DBFS_FLOOR`.
    """
    _check_pcm16("frame", frame)
    if not len(frame):
        return DBFS_FLOOR
    samples = np.frombuffer(frame, dtype="<i2").astype(np.float64)
    mean_square = float(np.dot(samples, samples)) / samples.size
    if mean_square <= 0.0:
        return DBFS_FLOOR
    return max(DBFS_FLOOR, 10.0 * math.log10(mean_square / (_FULL_SCALE * _FULL_SCALE)))
