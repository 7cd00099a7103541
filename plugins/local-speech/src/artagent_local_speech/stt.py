"""The ``whisper`` STT provider: one final transcript per utterance, ready as early as possible.

The engine pushes every 20 ms frame and calls ``end_of_speech()`` when its VAD has heard the
caller stop (``[session.speech] stop_ms`` of silence after their last word). Each
``end_of_speech()`` gets exactly one final :class:`~artagent.providers.Transcript`, in order;
the engine joins the finals of one turn. No partials are produced.

Speculation. Whisper needs the whole utterance, so the transcript cannot start before the
caller stops. But it need not wait for the VAD either: once the audio has been quiet for
``speculate_after_ms`` (by loudness, see :mod:`~artagent_local_speech.utterance`) and a pool
thread is free, the utterance so far is transcribed speculatively. When ``end_of_speech()``
comes and nothing loud arrived since, that job *is* the utterance's transcription (the audio
after it is silence), so the final is ready a few hundred ms sooner. A loud frame before that
discards it (the caller went on) and a later quiet starts another.

More speech before the turn ends. Each stretch of speech is its own utterance with its own
final, which is what the engine expects: it joins them into the turn's text, so "policy four
five" then "six seven" become one turn. When the pool is so busy that the previous utterance
has not even started when the next one ends, the two are transcribed as one (Whisper does
better with the whole sentence and the pool does one job instead of two): the previous one's
final is then empty, and the next one's holds the words of both.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

from artagent.audio import Resampler
from artagent.providers import Transcript

from artagent_local_speech.config import STTConfig
from artagent_local_speech.pool import InferencePool
from artagent_local_speech.utterance import RATE, Utterance
from artagent_local_speech.whisper import Recognition, WhisperEngine

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["WhisperSTT", "WhisperStream"]

MIN_VOICED_MS = 100.0
"""Loud audio an utterance needs before it is worth transcribing speculatively."""


class WhisperSTT:
    """One model and one pool for the process; per-call state lives in each :class:`WhisperStream`."""

    def __init__(self, settings: STTConfig, pool: InferencePool, engine: WhisperEngine) -> None:
        self.settings = settings
        self.pool = pool
        self.engine = engine

    async def open(self, *, sample_rate: int, language: str | None = None) -> WhisperStream:
        return WhisperStream(self, sample_rate, language or self.settings.language or None)

    async def warm_up(self) -> None:
        await self.pool.run(self.engine.warm_up)

    def transcribe_later(self, utterance: Utterance, language: str | None) -> Future[Recognition]:
        """Queue the utterance's transcription in the pool (a very short one needs none)."""
        audio = utterance.audio()
        if audio.size < RATE // 10:
            done: Future[Recognition] = Future()
            done.set_result(Recognition("", language, None, "none"))
            return done
        return self.pool.submit(self.engine.transcribe, audio, language, utterance.speech_end_s())


@dataclass
class _Job:
    """An utterance and the pool job transcribing it."""

    utterance: Utterance
    future: Future[Recognition]
    merged: bool = False
    """Cancelled before it started because the next utterance took it in."""


class WhisperStream:
    """One call's recogniser."""

    def __init__(self, stt: WhisperSTT, sample_rate: int, language: str | None) -> None:
        self._stt = stt
        self.language = language
        self._max_s = stt.settings.max_utterance_s
        self._resampler = Resampler(sample_rate, RATE) if sample_rate != RATE else None
        self._utterance = Utterance(0.0, max_s=self._max_s)
        self._speculation: _Job | None = None
        self._last: _Job | None = None
        self._delivery: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self._queue: asyncio.Queue[Transcript | BaseException | None] = asyncio.Queue()
        self.closed = False
        self.speculations = {"used": 0, "discarded": 0}
        """How many speculative transcriptions became finals, and how many were thrown away."""

    async def push(self, frame: bytes) -> None:
        if self.closed:
            raise RuntimeError("push() after close()")
        pcm = self._resampler.process(frame) if self._resampler is not None else frame
        voiced = self._utterance.add(pcm)
        if voiced and self._speculation is not None:
            self._discard_speculation()
        elif self._speculation is None and self._may_speculate():
            self._speculation = _Job(
                self._utterance, self._stt.transcribe_later(self._utterance, self.language)
            )

    def _may_speculate(self) -> bool:
        s, utterance = self._stt.settings, self._utterance
        return (
            s.speculative
            and utterance.voiced_ms >= MIN_VOICED_MS
            and utterance.quiet_ms >= s.speculate_after_ms
            and self._stt.pool.idle
        )

    def _discard_speculation(self) -> None:
        assert self._speculation is not None
        self._speculation.future.cancel()  # a job already running finishes, unread
        self._speculation = None
        self.speculations["discarded"] += 1

    async def end_of_speech(self) -> None:
        if self.closed:
            raise RuntimeError("end_of_speech() after close()")
        utterance, job = self._utterance, self._speculation
        self._utterance = Utterance(utterance.end_ms, max_s=self._max_s)
        self._speculation = None
        if job is not None:  # nothing loud since it started: its text is the utterance's
            job.utterance = utterance
            self.speculations["used"] += 1
        else:
            last = self._last
            if last is not None and not last.merged and last.future.cancel():
                last.merged = True
                utterance = last.utterance.merged_into(utterance)
            job = _Job(utterance, self._stt.transcribe_later(utterance, self.language))
        self._last = job
        task = asyncio.create_task(self._deliver(job, self._delivery), name="whisper-final")
        self._delivery = task
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, job: _Job, previous: asyncio.Task[None] | None) -> None:
        """Wait for the job, then for the previous final to be out, then give this one."""
        utterance = job.utterance
        result: Transcript | BaseException
        try:
            recognition = await asyncio.wrap_future(job.future)
            result = _final(utterance, recognition.text, recognition.confidence, recognition.language)
        except asyncio.CancelledError:
            if not job.merged:
                raise
            result = _final(utterance, "", None, self.language)
        except Exception as error:  # the model failed: results() raises it, the engine reports it
            result = error
        if previous is not None:
            await previous
        if not self.closed:
            self._queue.put_nowait(result)

    async def results(self) -> AsyncIterator[Transcript]:
        while (item := await self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._speculation is not None:
            self._speculation.future.cancel()
        for task in list(self._deliveries):
            task.cancel()
        self._queue.put_nowait(None)


def _final(utterance: Utterance, text: str, confidence: float | None, language: str | None) -> Transcript:
    start = utterance.audio_start_ms()
    end = (
        utterance.start_ms + utterance.voice_end * 1000 / RATE if utterance.voice_start is not None else None
    )
    return Transcript(
        text=text,
        is_final=True,
        start_ms=round(start, 1),
        end_ms=round(end if end is not None else utterance.end_ms, 1),
        confidence=confidence,
        language=language,
    )
