"""``artagent speech say`` and ``artagent speech transcribe``: try the speech set-up from a shell.

Both use the providers ``[session]`` of the configuration selects, built through the runtime's
provider registry exactly as calls get them (so a voice or model setting is tested as it will
run), and print what they measured. ``transcribe`` feeds the file to the VAD and recogniser the
way a call does: 20 ms frames at 16 kHz, cut into utterances by the same speech segmenter and
``[session.speech]`` settings, one final transcript per utterance; any sample rate, sample
width and channel count of PCM WAV is accepted.
"""

from __future__ import annotations

import asyncio
import sys
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from artagent.audio import FRAME_BYTES, SAMPLE_RATE, FrameSplitter, resample
from artagent.config import LoadedConfig
from artagent.providers import ProviderKind, Transcript, VoiceSpec
from artagent.session.turns import SegmenterSettings, SpeechSegmenter

__all__ = ["SpeechCliError", "read_wav", "say", "transcribe"]


class SpeechCliError(Exception):
    """Bad input (a file that is not PCM WAV, a provider missing): printed, exit status 1."""


def _provider(loaded: LoadedConfig, kind: ProviderKind) -> tuple[Any, str]:
    from artagent.runtime import Runtime
    from artagent.session.launcher import SessionUnavailableError

    sessions = Runtime(loaded).sessions
    try:
        return sessions.provider(kind), sessions.names[kind]
    except SessionUnavailableError as exc:
        raise SpeechCliError(f"{exc} (session.{kind})") from None


async def _warm_up(provider: Any) -> float:
    """Seconds the provider's warm-up (model loading) took, so it is not counted as speech."""
    started = time.perf_counter()
    warm_up = getattr(provider, "warm_up", None)
    if warm_up is not None:
        await warm_up()
    return time.perf_counter() - started


# -- say ----------------------------------------------------------------------------------------
async def _synthesize(tts: Any, text: str, voice: VoiceSpec | None) -> tuple[bytes, int, float, float]:
    """(PCM16, rate, first audio s, total s): chunks at another rate are converted to the first's."""
    started = time.perf_counter()
    first: float | None = None
    rate = 0
    pcm = bytearray()
    async for chunk in tts.synthesize(text, voice=voice):
        if first is None:
            first, rate = time.perf_counter() - started, chunk.sample_rate
        pcm += chunk.pcm if chunk.sample_rate == rate else resample(chunk.pcm, chunk.sample_rate, rate)
    if first is None:
        raise SpeechCliError("the TTS produced no audio for this text")
    return bytes(pcm), rate, first, time.perf_counter() - started


def say(loaded: LoadedConfig, text: str, out: Path, voice: str | None) -> int:
    """Synthesize ``text`` into the WAV file ``out``; print the timings."""
    if not text.strip():
        raise SpeechCliError("TEXT is empty: give the words to say")
    tts, name = _provider(loaded, "tts")

    async def run() -> tuple[float, tuple[bytes, int, float, float]]:
        loading = await _warm_up(tts)
        return loading, await _synthesize(tts, text, VoiceSpec(name=voice) if voice else None)

    loading, (pcm, rate, first, total) = asyncio.run(run())
    try:
        with wave.open(str(out), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(rate)
            wav.writeframes(pcm)
    except OSError as exc:
        raise SpeechCliError(f"cannot write {out}: {exc.strerror or exc}") from None
    seconds = len(pcm) / 2 / rate
    print(f"wrote {out}: {seconds:.2f} s of audio at {rate} Hz (tts {name}, voice {voice or 'default'})")
    print(
        f"first audio {first * 1000:.0f} ms, synthesis {total * 1000:.0f} ms "
        f"(real-time factor {total / seconds:.3f}), warm-up {loading:.2f} s"
    )
    return 0


# -- transcribe ---------------------------------------------------------------------------------
def read_wav(path: Path) -> tuple[bytes, float]:
    """A PCM WAV file as 16 kHz mono PCM16, and its duration in seconds."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except FileNotFoundError:
        raise SpeechCliError(f"{path}: no such file") from None
    except (wave.Error, EOFError) as exc:
        raise SpeechCliError(f"{path}: not a PCM WAV file ({exc})") from None
    if width not in (1, 2, 3, 4):
        raise SpeechCliError(f"{path}: {width * 8}-bit samples are not supported")
    samples = _to_float(raw, width).reshape(-1, channels).mean(axis=1)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    return resample(pcm, rate, SAMPLE_RATE), samples.size / rate


def _to_float(raw: bytes, width: int) -> np.ndarray:
    if width == 1:  # 8-bit WAV is unsigned
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128) / 128
    if width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        return (np.where(value >= 1 << 23, value - (1 << 24), value) / float(1 << 23)).astype(np.float32)
    kind = "<i2" if width == 2 else "<i4"
    return (np.frombuffer(raw, dtype=kind).astype(np.float64) / float(1 << (8 * width - 1))).astype(
        np.float32
    )


class Utterance(msgspec.Struct, frozen=True):
    text: str
    start_ms: float | None
    end_ms: float | None
    confidence: float | None
    final_after_ms: float
    """Wall time from the segmenter's end of speech to the final transcript."""


@dataclass
class _Run:
    utterances: list[Utterance]
    seconds: float
    warm_up_s: float


def _segmenter(loaded: LoadedConfig) -> SpeechSegmenter:
    """The engine's speech segmenter with this configuration's ``[session.speech]``."""
    session = loaded.config.session
    return SpeechSegmenter(
        SegmenterSettings(
            threshold=session.speech.threshold,
            release=session.speech.release,
            start_ms=session.barge_in.min_speech_ms,
            stop_ms=session.speech.stop_ms,
        )
    )


async def _recognise(loaded: LoadedConfig, pcm: bytes) -> _Run:
    vad_provider, _ = _provider(loaded, "vad")
    stt_provider, _ = _provider(loaded, "stt")
    warm_up_s = await _warm_up(vad_provider) + await _warm_up(stt_provider)
    vad = vad_provider.open(sample_rate=SAMPLE_RATE)
    stt = await stt_provider.open(sample_rate=SAMPLE_RATE, language=loaded.config.session.language or None)
    finals: list[tuple[float, Transcript]] = []
    arrived = asyncio.Event()
    started = time.perf_counter()
    reader = asyncio.create_task(_collect(stt, finals, arrived))
    ended = await _feed(vad, stt, _segmenter(loaded), pcm)
    while len(finals) < len(ended) and not reader.done():
        waiter = asyncio.ensure_future(arrived.wait())
        await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        arrived.clear()
    elapsed = time.perf_counter() - started
    await stt.close()
    await reader  # raises the recogniser's error, if it failed
    utterances = [
        Utterance(t.text, t.start_ms, t.end_ms, t.confidence, round((at - end) * 1000))
        for end, (at, t) in zip(ended, finals, strict=False)
    ]
    return _Run(utterances, elapsed, warm_up_s)


async def _feed(vad: Any, stt: Any, segmenter: SpeechSegmenter, pcm: bytes) -> list[float]:
    """Push the audio as 20 ms frames, as a call does; returns when each end_of_speech was."""
    ended: list[float] = []
    frames = FrameSplitter().feed(pcm + bytes((-len(pcm)) % FRAME_BYTES))
    for frame in frames + [bytes(FRAME_BYTES)] * 25:  # 0.5 s of silence: the last words end
        change = segmenter.update(await vad.speech_probability(frame))
        await stt.push(frame)
        if change == "speech_stopped":
            ended.append(time.perf_counter())
            await stt.end_of_speech()
    if segmenter.speaking:
        ended.append(time.perf_counter())
        await stt.end_of_speech()
    return ended


async def _collect(stt: Any, finals: list[tuple[float, Transcript]], arrived: asyncio.Event) -> None:
    async for transcript in stt.results():
        if transcript.is_final:
            finals.append((time.perf_counter(), transcript))
            arrived.set()


def transcribe(loaded: LoadedConfig, path: Path, as_json: bool) -> int:
    """Print the transcript of a WAV file, one line per utterance, with timings."""
    pcm, seconds = read_wav(path)
    run = asyncio.run(_recognise(loaded, pcm))
    said = [u for u in run.utterances if u.text]
    if as_json:
        doc = {
            "file": str(path),
            "audio_s": round(seconds, 3),
            "text": " ".join(u.text for u in said),
            "utterances": run.utterances,
            "recognition_s": round(run.seconds, 3),
            "real_time_factor": round(run.seconds / seconds, 4) if seconds else None,
            "warm_up_s": round(run.warm_up_s, 3),
        }
        sys.stdout.write(msgspec.json.encode(doc).decode() + "\n")
        return 0
    for u in run.utterances:
        span = f"{(u.start_ms or 0) / 1000:6.2f}-{(u.end_ms or 0) / 1000:6.2f} s"
        print(f"[{span}] {u.text or '(no words)'}  (final {u.final_after_ms:.0f} ms after end of speech)")
    if not run.utterances:
        print("no speech found")
    print(
        f"{seconds:.2f} s of audio recognised in {run.seconds:.2f} s "
        f"(real-time factor {run.seconds / max(seconds, 1e-9):.3f}), warm-up {run.warm_up_s:.2f} s"
    )
    return 0
