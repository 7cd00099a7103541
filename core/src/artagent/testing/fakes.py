"""Scripted speech providers with exact latencies on an injected clock.

Each fake implements its Protocol from :mod:`artagent.providers`, costs next to nothing, and
records what it was asked, when, and whether it was cancelled, so a test can assert the
session's behaviour (that synthesis stopped on barge-in, what audio reached the recogniser)
rather than only its output. Latencies are slept on the clock the fake was given: on a
:class:`~artagent.testing.VirtualClock` they are exact and cost no real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Collection, Mapping, Sequence
from dataclasses import dataclass

from artagent.providers import AudioChunk, Transcript, VoiceSpec
from artagent.session.playout import Clock
from artagent.testing.audio import frame_rms, tone

__all__ = [
    "FakeProviderError",
    "FakeSTT",
    "FakeSTTStream",
    "FakeTTS",
    "FakeTurnDetector",
    "FakeVAD",
    "FakeVADStream",
    "Synthesis",
]


class FakeProviderError(RuntimeError):
    """A failure a fake was scripted to raise, or a script that ran out."""


Failures = int | Collection[int] | None
"""Where a fake fails: one index, several, or none."""


def _fails(script: Failures, index: int) -> bool:
    if script is None:
        return False
    return index == script if isinstance(script, int) else index in script


# -- voice activity -------------------------------------------------------------------------
class FakeVADStream:
    """Speech probability 1.0 for a frame whose RMS reaches the threshold, else 0.0, unless the
    script gives the probability for that frame index."""

    def __init__(self, vad: FakeVAD, sample_rate: int) -> None:
        self._vad = vad
        self.sample_rate = sample_rate
        self.probabilities: list[float] = []
        """What each frame got, in order."""

    async def speech_probability(self, frame: bytes) -> float:
        vad = self._vad
        index = len(self.probabilities)
        vad.frames += 1
        if _fails(vad.fail_on, vad.frames - 1):
            self.probabilities.append(-1.0)  # the frame is counted, so the next one gets on
            raise vad.error or FakeProviderError(f"scripted VAD failure on frame {vad.frames - 1}")
        if index < len(vad.script):
            probability = vad.script[index]
        else:
            probability = 1.0 if frame_rms(frame) >= vad.threshold else 0.0
        if vad.latency_s > 0 and vad.clock is not None:
            await vad.clock.sleep(vad.latency_s)
        self.probabilities.append(probability)
        return probability


class FakeVAD:
    """An energy detector: tone frames are speech, silence frames are not."""

    def __init__(
        self,
        *,
        threshold: float = 0.02,
        script: Sequence[float] = (),
        clock: Clock | None = None,
        latency_s: float = 0.0,
        fail_on: Failures = None,
        error: BaseException | None = None,
    ) -> None:
        self.threshold = threshold
        """RMS, as a fraction of full scale, from which a frame is speech."""
        self.script = list(script)
        """Probabilities by frame index, overriding the energy for the first frames of each stream."""
        self.clock = clock
        self.latency_s = latency_s
        self.fail_on = fail_on
        """Frames (counted over every stream of this VAD) on which speech_probability() raises
        ``error`` (recorded in the stream's ``probabilities`` as -1)."""
        self.error = error
        self.frames = 0
        """Frames asked about so far, over every stream."""
        self.streams: list[FakeVADStream] = []

    def open(self, *, sample_rate: int) -> FakeVADStream:
        stream = FakeVADStream(self, sample_rate)
        self.streams.append(stream)
        return stream


# -- speech to text -------------------------------------------------------------------------
class FakeSTTStream:
    """Recognises the scripted utterances, one per speech segment (ended by end_of_speech)."""

    def __init__(self, stt: FakeSTT, sample_rate: int, language: str | None) -> None:
        self._stt = stt
        self.sample_rate = sample_rate
        self.language = language
        self.received: list[bytes] = []
        """Every frame pushed, in order."""
        self.end_of_speech_at: list[float] = []
        self.emitted: list[tuple[float, Transcript]] = []
        """Each result with the clock time it became available."""
        self.closed = False
        self._queue: asyncio.Queue[Transcript | BaseException | None] = asyncio.Queue()
        self._position_ms = 0.0
        self.segment = 0
        """The utterance the next speech segment is (a replacement stream goes on from its
        predecessor's when the harness sets it)."""
        self.segment_frames = 0
        self._speech_frames = 0
        self.segment_start_ms = 0.0
        self._partial_words = 0
        self._finals: set[asyncio.Task[None]] = set()

    async def push(self, frame: bytes) -> None:
        if self.closed:
            raise RuntimeError("push() after close()")
        stt = self._stt
        stt.pushed += 1
        if _fails(stt.fail_push, stt.pushed - 1):
            raise stt.error or FakeProviderError("scripted STT failure: the connection dropped")
        self.received.append(frame)
        if self.segment_frames == 0:
            self.segment_start_ms = self._position_ms
        self._position_ms += len(frame) / 2 / self.sample_rate * 1000
        self.segment_frames += 1
        every = self._stt.partial_every
        if every > 0 and frame_rms(frame) >= self._stt.speech_rms:
            self._speech_frames += 1
            if self._speech_frames % every == 0:
                self._emit_partial(self._speech_frames // every)

    def _emit_partial(self, words_heard: int) -> None:
        words = self._stt.utterance(self.segment).split()
        count = min(words_heard, len(words))
        if count > self._partial_words:
            self._partial_words = count
            self._emit(self._transcript(" ".join(words[:count]), is_final=False))

    async def end_of_speech(self) -> None:
        stt = self._stt
        self.end_of_speech_at.append(stt.clock.now())
        if self.segment_frames == 0:
            self.segment_start_ms = self._position_ms  # an empty segment
        index = self.segment
        result: Transcript | BaseException = self._transcript(stt.utterance(index), is_final=True)
        if _fails(stt.fail_on, index):
            result = stt.error or FakeProviderError(f"scripted STT failure on utterance {index}")
        self.segment += 1
        self.segment_frames = 0
        self._speech_frames = 0
        self._partial_words = 0
        task = asyncio.create_task(self._deliver_final(result), name="fake-stt-final")
        self._finals.add(task)
        task.add_done_callback(self._finals.discard)

    async def _deliver_final(self, result: Transcript | BaseException) -> None:
        await self._stt.clock.sleep(self._stt.final_latency_s)
        if not self.closed:
            self._emit(result)

    async def results(self) -> AsyncGenerator[Transcript, None]:
        while (item := await self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            for task in self._finals:
                task.cancel()
            self._queue.put_nowait(None)

    def _transcript(self, text: str, *, is_final: bool) -> Transcript:
        return Transcript(
            text=text,
            is_final=is_final,
            start_ms=self.segment_start_ms,
            end_ms=self._position_ms,
            confidence=1.0 if is_final else None,
            language=self.language,
        )

    def _emit(self, result: Transcript | BaseException) -> None:
        if isinstance(result, Transcript):
            self.emitted.append((self._stt.clock.now(), result))
        self._queue.put_nowait(result)


class FakeSTT:
    """Scripted recognition: a growing prefix of the current utterance every ``partial_every``
    speech frames (as loud as ``speech_rms``: silence is not words), the whole utterance
    ``final_latency_s`` after end_of_speech()."""

    def __init__(
        self,
        clock: Clock,
        utterances: Sequence[str] = (),
        *,
        partial_every: int = 10,
        final_latency_s: float = 0.2,
        fail_on: Failures = None,
        error: BaseException | None = None,
        speech_rms: float = 0.02,
        fail_push: Failures = None,
    ) -> None:
        self.clock = clock
        self.speech_rms = speech_rms
        self.utterances = list(utterances)
        """Text per speech segment; a segment past the end is recognised as ""."""
        self.partial_every = partial_every
        """Speech frames between partials, each one word longer (0: no partials)."""
        self.final_latency_s = final_latency_s
        self.fail_on = fail_on
        """Index (or indices) of the utterances whose final result is replaced by ``error``,
        raised in results()."""
        self.error = error
        self.fail_push = fail_push
        """Frames (counted over every stream of this recogniser) whose push() raises ``error``:
        a dropped connection."""
        self.pushed = 0
        self.streams: list[FakeSTTStream] = []

    def utterance(self, index: int) -> str:
        return self.utterances[index] if index < len(self.utterances) else ""

    async def open(self, *, sample_rate: int, language: str | None = None) -> FakeSTTStream:
        stream = FakeSTTStream(self, sample_rate, language)
        self.streams.append(stream)
        return stream


# -- text to speech -------------------------------------------------------------------------
@dataclass
class Synthesis:
    """One synthesize() call as the fake saw it."""

    text: str
    voice: VoiceSpec | None
    started_at: float
    first_audio_at: float | None = None
    ended_at: float | None = None
    audio_s: float = 0.0
    cancelled: bool = False


class FakeTTS:
    """Tone (or silence) lasting ``seconds_per_char`` per character (or per word), streamed in
    ``chunk_ms`` chunks; the first after ``first_audio_latency_s``, then one every ``chunk_interval_s``."""

    def __init__(
        self,
        clock: Clock,
        *,
        sample_rate: int = 16_000,
        seconds_per_char: float = 0.06,
        seconds_per_word: float | None = None,
        first_audio_latency_s: float = 0.15,
        chunk_ms: int = 100,
        chunk_interval_s: float = 0.0,
        silent: bool = False,
        freq: float = 440.0,
        fail_on: Failures = None,
        fail_after_s: float = 0.0,
        error: BaseException | None = None,
    ) -> None:
        self.clock = clock
        self.sample_rate = sample_rate
        self.seconds_per_char = seconds_per_char
        self.seconds_per_word = seconds_per_word
        self.first_audio_latency_s = first_audio_latency_s
        self.chunk_ms = chunk_ms
        self.chunk_interval_s = chunk_interval_s
        self.silent = silent
        self.freq = freq
        self.fail_on = fail_on
        """Indices of the synthesize() calls that raise ``error`` once they have produced
        ``fail_after_s`` of audio (0: before the first chunk)."""
        self.fail_after_s = fail_after_s
        self.error = error
        self.syntheses: list[Synthesis] = []
        self.cancelled = 0
        """Syntheses stopped before their last chunk (iteration cancelled or closed)."""

    def duration_s(self, text: str, voice: VoiceSpec | None = None) -> float:
        """Seconds of audio for ``text``; a voice's ``rate`` above 1 speaks faster."""
        if self.seconds_per_word is not None:
            seconds = len(text.split()) * self.seconds_per_word
        else:
            seconds = len(text) * self.seconds_per_char
        return seconds / (voice.rate if voice is not None and voice.rate > 0 else 1.0)

    def synthesize(self, text: str, *, voice: VoiceSpec | None = None) -> AsyncGenerator[AudioChunk, None]:
        record = Synthesis(text=text, voice=voice, started_at=self.clock.now())
        failing = _fails(self.fail_on, len(self.syntheses))
        self.syntheses.append(record)
        return self._stream(record, failing)

    async def _stream(self, record: Synthesis, failing: bool) -> AsyncGenerator[AudioChunk, None]:
        rate = self.sample_rate
        remaining = round(self.duration_s(record.text, record.voice) * rate)
        step = rate * self.chunk_ms // 1000
        pcm = bytes(step * 2) if self.silent else tone(step, self.freq, 0.3, rate)
        try:
            await self.clock.sleep(self.first_audio_latency_s)
            while remaining > 0:
                if failing and record.audio_s >= self.fail_after_s - 1e-9:
                    raise self.error or FakeProviderError(f"scripted TTS failure on {record.text!r}")
                if record.first_audio_at is None:
                    record.first_audio_at = self.clock.now()
                elif self.chunk_interval_s > 0:
                    await self.clock.sleep(self.chunk_interval_s)
                n = min(step, remaining)
                remaining -= n
                record.audio_s += n / rate
                yield AudioChunk(pcm[: n * 2], rate)
            if failing and remaining <= 0:  # shorter than fail_after_s: it fails at its end
                raise self.error or FakeProviderError(f"scripted TTS failure on {record.text!r}")
        except (GeneratorExit, asyncio.CancelledError):
            record.cancelled = True
            self.cancelled += 1
            raise
        finally:
            record.ended_at = self.clock.now()


# -- turn taking ----------------------------------------------------------------------------
class FakeTurnDetector:
    """A fixed silence per turn, or one looked up by the exact transcript."""

    def __init__(self, silence_s: float = 0.5, by_transcript: Mapping[str, float] | None = None) -> None:
        self.silence_s = silence_s
        self.by_transcript = dict(by_transcript or {})
        self.asked: list[str] = []

    def silence_needed_s(self, transcript: str) -> float:
        self.asked.append(transcript)
        return self.by_transcript.get(transcript, self.silence_s)
