"""The internal audio format: framing, resampling, G.711 mu-law and levels, measured on real signals."""

from __future__ import annotations

import random

import numpy as np
import pytest
from artagent.audio import (
    DBFS_FLOOR,
    FRAME_BYTES,
    FRAME_MS,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    TELEPHONY_RATE,
    FrameSplitter,
    Resampler,
    frame_bytes,
    frame_duration_ms,
    mulaw_to_pcm16,
    pcm16_to_mulaw,
    resample,
    rms_dbfs,
)


def tone(freq: float, seconds: float, rate: int = SAMPLE_RATE, amplitude: float = 10_000.0) -> bytes:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).round().astype("<i2").tobytes()


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def peak_hz(pcm: bytes, rate: int) -> float:
    x = samples(pcm)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[int(np.argmax(spectrum))])


def rms(pcm: bytes) -> float:
    x = samples(pcm)
    return float(np.sqrt(np.mean(x * x)))


def middle(pcm: bytes, rate: int, margin_s: float = 0.1) -> bytes:
    """Drop the filter's ramp-in and ramp-out at both ends before measuring."""
    cut = int(margin_s * rate) * 2
    return pcm[cut:-cut]


def random_chunks(data: bytes, rng: random.Random, max_size: int) -> list[bytes]:
    chunks, i = [], 0
    while i < len(data):
        n = rng.randint(0, max_size)
        chunks.append(data[i : i + n])
        i += n
    return chunks


# ---- constants and sizes -------------------------------------------------------------------


def test_internal_format_constants() -> None:
    assert (SAMPLE_RATE, FRAME_MS, FRAME_SAMPLES, FRAME_BYTES) == (16_000, 20, 320, 640)
    assert TELEPHONY_RATE == 8_000


@pytest.mark.parametrize(
    ("rate", "ms", "expected"), [(16_000, 20, 640), (24_000, 20, 960), (8_000, 20, 320), (16_000, 10, 320)]
)
def test_frame_bytes(rate: int, ms: int, expected: int) -> None:
    assert frame_bytes(rate, ms) == expected


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"rate": 0}, "rate"),
        ({"rate": -8000}, "rate"),
        ({"frame_ms": 0}, "frame_ms"),
        ({"rate": 11_025}, "frame_ms"),
    ],
)
def test_frame_bytes_rejects_bad_arguments(kwargs: dict[str, int], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        frame_bytes(**kwargs)


@pytest.mark.parametrize(
    ("n_bytes", "rate", "width", "ms"),
    [
        (640, 16_000, 2, 20.0),
        (960, 24_000, 2, 20.0),
        (160, 8_000, 1, 20.0),
        (0, 16_000, 2, 0.0),
        (32_000, 16_000, 2, 1000.0),
    ],
)
def test_frame_duration_ms(n_bytes: int, rate: int, width: int, ms: float) -> None:
    assert frame_duration_ms(n_bytes, rate, width) == pytest.approx(ms)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((641,), "n_bytes"),
        ((-2,), "n_bytes"),
        ((640, 0), "rate"),
        ((640, -1), "rate"),
        ((640, 16_000, 0), "sample_width"),
    ],
)
def test_frame_duration_ms_rejects_bad_arguments(args: tuple[int, ...], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        frame_duration_ms(*args)


# ---- FrameSplitter -------------------------------------------------------------------------


def test_splitter_frames_are_exact_and_remainder_is_kept() -> None:
    splitter = FrameSplitter()
    assert splitter.feed(b"\x01" * 600) == []
    assert splitter.pending == 600
    frames = splitter.feed(b"\x02" * 700)
    assert frames == [b"\x01" * 600 + b"\x02" * 40, b"\x02" * 640]
    assert splitter.pending == 20
    assert splitter.flush() == [b"\x02" * 20 + b"\x00" * 620]
    assert splitter.pending == 0
    assert splitter.flush() == []


def test_splitter_any_chunking_yields_identical_frames() -> None:
    stream = tone(440, 1.013) + b"\x7f\x00"  # not a whole number of frames
    reference = FrameSplitter().feed(stream) + FrameSplitter().flush()
    whole = FrameSplitter()
    expected = whole.feed(stream) + whole.flush()
    assert len(expected) == len(stream) // FRAME_BYTES + 1
    assert reference == expected[:-1]
    rng = random.Random(7)
    for max_size in (1, 3, 641, 1280, 5000):
        splitter = FrameSplitter()
        frames: list[bytes] = []
        for chunk in random_chunks(stream, rng, max_size):
            frames += splitter.feed(chunk)
        frames += splitter.flush()
        assert frames == expected, max_size
    assert all(len(f) == FRAME_BYTES for f in expected)
    assert b"".join(expected)[: len(stream)] == stream


def test_splitter_byte_by_byte() -> None:
    stream = tone(1000, 0.1)
    splitter = FrameSplitter()
    frames = [f for i in range(len(stream)) for f in splitter.feed(stream[i : i + 1])]
    assert frames == [stream[i : i + FRAME_BYTES] for i in range(0, len(stream), FRAME_BYTES)]


def test_splitter_accepts_buffers_and_returns_bytes() -> None:
    splitter = FrameSplitter()
    exact = bytearray(b"\x05" * FRAME_BYTES)
    [frame] = splitter.feed(exact)
    exact[0] = 0  # the frame must not alias the caller's buffer
    assert type(frame) is bytes and frame == b"\x05" * FRAME_BYTES
    frames = splitter.feed(memoryview(b"\x06" * (FRAME_BYTES * 2 + 2)))
    assert [type(f) for f in frames] == [bytes, bytes]


def test_splitter_flush_without_padding_and_clear() -> None:
    splitter = FrameSplitter()
    splitter.feed(b"\x01\x02" * 10)
    assert splitter.flush(pad=False) == [b"\x01\x02" * 10]
    splitter.feed(b"\x01\x02" * 10)
    splitter.clear()
    assert splitter.pending == 0 and splitter.flush() == []


def test_splitter_flush_rejects_a_half_sample() -> None:
    splitter = FrameSplitter()
    splitter.feed(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="even byte count"):
        splitter.flush()
    assert splitter.pending == 0


def test_splitter_at_another_rate() -> None:
    splitter = FrameSplitter(rate=24_000)
    assert splitter.frame_bytes == 960
    assert [len(f) for f in splitter.feed(bytes(2000))] == [960, 960]


def test_splitter_rejects_bad_rate() -> None:
    with pytest.raises(ValueError, match="rate"):
        FrameSplitter(rate=0)


# ---- resampling ----------------------------------------------------------------------------


def stream_through(resampler: Resampler, pcm: bytes, chunk: int) -> bytes:
    out = [resampler.process(pcm[i : i + chunk]) for i in range(0, len(pcm), chunk)]
    return b"".join(out) + resampler.flush()


def test_round_trip_16k_24k_16k_keeps_frequency_amplitude_and_length() -> None:
    pcm = tone(440, 1.0)
    up = stream_through(Resampler(16_000, 24_000), pcm, FRAME_BYTES)
    assert abs(len(up) - len(pcm) * 3 // 2) <= frame_bytes(24_000)
    assert peak_hz(middle(up, 24_000), 24_000) == pytest.approx(440, abs=2)
    back = stream_through(Resampler(24_000, 16_000), up, frame_bytes(24_000))
    assert abs(len(back) - len(pcm)) <= FRAME_BYTES
    assert peak_hz(middle(back, 16_000), 16_000) == pytest.approx(440, abs=2)
    assert rms(middle(back, 16_000)) == pytest.approx(rms(middle(pcm, 16_000)), rel=0.01)
    assert rms(middle(up, 24_000)) == pytest.approx(10_000 / np.sqrt(2), rel=0.01)


@pytest.mark.parametrize("chunk", [2, 6, 318, 640, 4000])
def test_streaming_equals_one_shot(chunk: int) -> None:
    pcm = tone(440, 0.5) + tone(3000, 0.5, amplitude=5000)
    one_shot = samples(resample(pcm, 16_000, 24_000))
    streamed = samples(stream_through(Resampler(16_000, 24_000), pcm, chunk))
    assert streamed.size == one_shot.size
    assert np.max(np.abs(streamed - one_shot)) <= 4  # rounding only: a click would be thousands


def test_chunk_boundaries_do_not_click() -> None:
    pcm = tone(440, 0.5)
    out = samples(stream_through(Resampler(16_000, 8_000), pcm, FRAME_BYTES))
    inner = out[400:-400]
    # the largest step between neighbouring samples of a 440 Hz tone at 8 kHz is ~3,450
    assert np.max(np.abs(np.diff(inner))) < 3_600


def test_resampler_identity_fast_path() -> None:
    resampler = Resampler(16_000, 16_000)
    pcm = tone(440, 0.02)
    assert resampler.process(bytearray(pcm)) == pcm
    assert resampler.flush() == b""
    assert resample(pcm, 16_000, 16_000) == pcm


def test_resampler_is_reusable_after_flush_and_reset() -> None:
    pcm = tone(440, 0.2)
    resampler = Resampler(16_000, 24_000)
    first = samples(stream_through(resampler, pcm, FRAME_BYTES))
    again = samples(stream_through(resampler, pcm, FRAME_BYTES))
    assert again.size == first.size and np.max(np.abs(again - first)) <= 4  # soxr's int16 dither
    resampler.process(tone(1000, 0.1))
    resampler.reset()
    after_reset = samples(stream_through(resampler, pcm, FRAME_BYTES))
    assert after_reset.size == first.size and np.max(np.abs(after_reset - first)) <= 4


def test_resample_empty_input() -> None:
    assert resample(b"", 16_000, 24_000) == b""
    resampler = Resampler(16_000, 24_000)
    assert resampler.process(b"") == b""
    assert resampler.flush() == b""


@pytest.mark.parametrize(("in_rate", "out_rate", "name"), [(0, 16_000, "in_rate"), (16_000, -1, "out_rate")])
def test_resampling_rejects_bad_rates(in_rate: int, out_rate: int, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Resampler(in_rate, out_rate)
    with pytest.raises(ValueError, match=name):
        resample(bytes(640), in_rate, out_rate)


def test_resampling_rejects_odd_byte_counts() -> None:
    with pytest.raises(ValueError, match="chunk"):
        Resampler(16_000, 24_000).process(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="chunk"):
        Resampler(16_000, 16_000).process(b"\x00")
    with pytest.raises(ValueError, match="pcm"):
        resample(b"\x00\x01\x02", 16_000, 24_000)


# ---- G.711 mu-law ---------------------------------------------------------------------------


def test_mulaw_sizes_and_known_codes() -> None:
    assert pcm16_to_mulaw(bytes(640)) == b"\xff" * 320  # mu-law zero is 0xFF
    assert mulaw_to_pcm16(b"\xff" * 160) == bytes(320)
    assert pcm16_to_mulaw(b"") == b""


def test_mulaw_round_trip_error_is_small() -> None:
    pcm = tone(440, 0.5, rate=TELEPHONY_RATE, amplitude=12_000)
    back = mulaw_to_pcm16(pcm16_to_mulaw(pcm))
    assert len(back) == len(pcm)
    error = samples(back) - samples(pcm)
    snr_db = 20 * np.log10(rms(pcm) / np.sqrt(np.mean(error * error)))
    assert snr_db > 30  # G.711 gives about 38 dB on a loud tone


def test_mulaw_quantisation_error_is_bounded_over_the_whole_range() -> None:
    every_value = np.arange(-32768, 32768, dtype="<i2")
    back = samples(mulaw_to_pcm16(pcm16_to_mulaw(every_value.tobytes())))
    x = every_value.astype(np.float64)
    in_range = np.abs(x) <= 32_124  # G.711's largest magnitude; louder samples clip to it
    # About 14 bits of resolution: steps of 8 near zero, about 3 % of the value higher up.
    error = np.abs(back - x)[in_range]
    assert np.all(error <= 12 + np.abs(x[in_range]) / 32)
    assert np.array_equal(back[~in_range], np.sign(x[~in_range]) * 32_124)


def test_telephony_path_preserves_a_tone() -> None:
    pcm = tone(440, 1.0)
    narrow = resample(pcm, SAMPLE_RATE, TELEPHONY_RATE)
    wire = pcm16_to_mulaw(narrow)
    assert len(wire) == TELEPHONY_RATE  # one byte per sample, one second
    wide = resample(mulaw_to_pcm16(wire), TELEPHONY_RATE, SAMPLE_RATE)
    assert abs(len(wide) - len(pcm)) <= FRAME_BYTES
    assert peak_hz(middle(wide, SAMPLE_RATE), SAMPLE_RATE) == pytest.approx(440, abs=2)
    assert rms(middle(wide, SAMPLE_RATE)) == pytest.approx(rms(middle(pcm, SAMPLE_RATE)), rel=0.03)


def test_mulaw_rejects_odd_pcm() -> None:
    with pytest.raises(ValueError, match="pcm"):
        pcm16_to_mulaw(b"\x00\x01\x02")


# ---- levels ---------------------------------------------------------------------------------


def test_rms_dbfs_reference_levels() -> None:
    assert rms_dbfs(bytes(FRAME_BYTES)) == DBFS_FLOOR
    assert rms_dbfs(b"") == DBFS_FLOOR
    square = np.tile(np.array([32767, -32768], dtype="<i2"), FRAME_SAMPLES // 2).tobytes()
    assert rms_dbfs(square) == pytest.approx(0.0, abs=0.01)
    full_sine = tone(1000, 0.02, amplitude=32767)
    assert rms_dbfs(full_sine) == pytest.approx(-3.01, abs=0.05)
    assert rms_dbfs(tone(1000, 0.02, amplitude=16383)) == pytest.approx(-9.03, abs=0.05)
    assert rms_dbfs(np.array([1], dtype="<i2").tobytes()) == pytest.approx(-90.31, abs=0.01)


def test_rms_dbfs_rejects_odd_frames() -> None:
    with pytest.raises(ValueError, match="frame"):
        rms_dbfs(b"\x00\x01\x02")
