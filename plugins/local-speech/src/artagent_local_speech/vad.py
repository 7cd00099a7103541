"""Voice activity: Silero (a small neural network on onnxruntime) and WebRTC's GMM detector.

The engine asks for a speech probability for every 20 ms frame. Silero works on 32 ms windows
(512 samples at 16 kHz) with a recurrent state, so a call's stream keeps the samples that do
not fill a window yet and answers with the probability of its latest window: the answer lags
the audio by at most one window. One ONNX session serves every call; each call keeps its own
recurrent state and the 64 samples of context the model reads before each window, and the
windows calls submit within ``silero_batch_ms`` of one another run as one batch
(:class:`SileroBatcher`).
Windows quieter than the gate (``silero_gate_dbfs``) are silence without an inference, so a
caller who is listening costs next to nothing; after ``QUIET_RESET`` such windows in a row the
recurrent state starts afresh, as it would on a new call, and the first loud window after
quiet ones is run with the last ``PRIME`` of them before it.

WebRTC's detector costs microseconds a frame, so it runs inline; it says speech or not for each
10 ms, and a frame's probability is the share of its 10 ms pieces it called speech. It calls
the first 100 to 200 ms of any line speech while it learns the noise, so a stream answers 0 for
its first ``WEBRTC_LEARNING_MS`` (else every call would start with a false barge-in).
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import Future
from typing import Any

import numpy as np
from artagent.audio import Resampler

from artagent_local_speech.models import shared, silero_onnx
from artagent_local_speech.pool import InferencePool

__all__ = ["SileroStream", "SileroVAD", "WebRTCStream", "WebRTCVAD"]

RATE = 16_000
WINDOW = 512
CONTEXT = 64
_STATE = (2, 1, 128)
_SR = np.array(RATE, dtype=np.int64)
QUIET_RESET = 10
"""Gated windows in a row (320 ms) after which a stream's recurrent state is reset."""
PRIME = 3
"""Quiet windows the model hears before the first loud one after them (96 ms)."""
MAX_BATCH = 64
"""Windows of different calls run through the model at once, at most."""
WEBRTC_LEARNING_MS = 200


def _silero_session() -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    path = str(silero_onnx())
    return shared(
        ("silero", path),
        lambda: onnxruntime.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"]),
    )


class SileroVAD:
    """The ``silero`` VAD provider: one model for the process, a small state per call, and one
    batcher that runs the windows of many calls together."""

    def __init__(self, pool: InferencePool, *, gate_dbfs: float = -120.0, batch_ms: float = 0.0) -> None:
        self.pool = pool
        self.gate = 10 ** (gate_dbfs / 20) if gate_dbfs > -120 else 0.0
        """The gate as an RMS of samples scaled to [-1, 1] (0: off)."""
        self.batcher = SileroBatcher(pool, linger_s=batch_ms / 1000)

    def open(self, *, sample_rate: int) -> SileroStream:
        return SileroStream(self.batcher, sample_rate, gate=self.gate)

    async def warm_up(self) -> None:
        """Load the model and run it once (silence would pass the gate without it)."""
        stream = self.open(sample_rate=RATE)
        await self.batcher.infer(stream, np.zeros((1, WINDOW), dtype=np.float32))


class _Job:
    __slots__ = ("future", "probability", "stream", "windows")

    def __init__(self, stream: SileroStream, windows: np.ndarray, future: asyncio.Future[float]) -> None:
        self.stream = stream
        self.windows = windows
        self.future = future
        self.probability = 0.0


class SileroBatcher:
    """Runs the windows that calls submit within ``linger_s`` of one another as one batch.

    A window of one call costs about as much as a batch of several (the model's fixed cost per
    run dominates), so under load the first window submitted waits up to ``linger_s`` for
    others (or until ``MAX_BATCH`` are waiting), then the batch goes to the pool as one job,
    each row with its own call's recurrent state and context. With ``linger_s`` 0 a batch holds
    what was submitted in the same turn of the event loop. A job of several windows (a primed
    start) takes part in as many consecutive runs of its batch."""

    def __init__(self, pool: InferencePool, *, linger_s: float = 0.0) -> None:
        self.pool = pool
        self.linger_s = linger_s
        self._jobs: list[_Job] = []
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def infer(self, stream: SileroStream, windows: np.ndarray) -> float:
        """The speech probability of the last of ``windows`` (shape ``[k, WINDOW]``)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests, a CLI tool): nothing of the old one is due
            self._loop, self._jobs, self._timer = loop, [], None
        job = _Job(stream, windows, loop.create_future())
        jobs = self._jobs
        jobs.append(job)
        if len(jobs) >= MAX_BATCH:
            self._flush()
        elif self._timer is None:
            linger = self.linger_s
            self._timer = loop.call_later(linger, self._flush) if linger > 0 else loop.call_soon(self._flush)
        return await job.future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        jobs, self._jobs = self._jobs, []
        if not jobs:
            return
        loop = asyncio.get_running_loop()
        try:
            done = self.pool.submit(_run_batch, jobs)
        except RuntimeError as exc:  # the pool is shut down: the runtime is stopping
            _deliver(jobs, exc)
            return
        done.add_done_callback(lambda f: _back_to(loop, jobs, f))


def _back_to(loop: asyncio.AbstractEventLoop, jobs: list[_Job], done: Future[None]) -> None:
    error = asyncio.CancelledError() if done.cancelled() else done.exception()
    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
        loop.call_soon_threadsafe(_deliver, jobs, error)


def _deliver(jobs: list[_Job], error: BaseException | None) -> None:
    """Back on the loop: each job's caller gets its probability (or the batch's error)."""
    for job in jobs:
        if not job.future.done():
            if error is None:
                job.future.set_result(job.probability)
            else:
                job.future.set_exception(error)


def _run_batch(jobs: list[_Job]) -> None:
    """In a pool thread: the model over every job's windows, one run per window depth."""
    session = SileroStream._pool_session()
    depth = max(job.windows.shape[0] for job in jobs)
    for step in range(depth):
        rows = jobs if depth == 1 else [job for job in jobs if job.windows.shape[0] > step]
        batch = np.empty((len(rows), CONTEXT + WINDOW), dtype=np.float32)
        state = np.empty((2, len(rows), 128), dtype=np.float32)
        for i, job in enumerate(rows):
            stream = job.stream
            batch[i, :CONTEXT] = stream._context
            batch[i, CONTEXT:] = job.windows[step]
            state[:, i, :] = stream._state[:, 0, :]
        probabilities, state_out = session.run(None, {"input": batch, "state": state, "sr": _SR})
        for i, job in enumerate(rows):
            stream = job.stream
            stream._state = state_out[:, i : i + 1, :].copy()
            stream._context = job.windows[step, -CONTEXT:].copy()
            job.probability = float(probabilities[i, 0])


class SileroStream:
    """One call's detector; the engine awaits one frame at a time, so its state is never shared."""

    def __init__(self, batcher: SileroBatcher, sample_rate: int, *, gate: float = 0.0) -> None:
        self._batcher = batcher
        self._gate_power = gate * gate
        self._quiet = 0
        self._held = np.zeros(0, dtype=np.float32)
        """The last quiet windows (not run through the model), to prime it when sound comes."""
        self._resampler = Resampler(sample_rate, RATE) if sample_rate != RATE else None
        self._pending = np.zeros(0, dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._state = np.zeros(_STATE, dtype=np.float32)
        self.probability = 0.0
        """The latest window's speech probability."""

    async def speech_probability(self, frame: bytes) -> float:
        pcm = self._resampler.process(frame) if self._resampler is not None else frame
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        pending = np.concatenate((self._pending, samples)) if self._pending.size else samples
        whole = pending.size // WINDOW * WINDOW
        self._pending = pending[whole:]
        if whole:
            audio = pending[:whole]
            if self._gate_power and float(np.dot(audio, audio)) < self._gate_power * whole:
                self._skip(audio)
            else:
                if self._held.size:
                    audio = self._primed(audio)
                self.probability = await self._batcher.infer(self, audio.reshape(-1, WINDOW))
        return self.probability

    def _skip(self, audio: np.ndarray) -> None:
        """Quiet windows: silence, no inference; the last few are kept to prime the model."""
        self.probability = 0.0
        self._held = np.concatenate((self._held, audio))[-(PRIME + 1) * WINDOW :]
        self._quiet += audio.size // WINDOW
        if self._quiet >= QUIET_RESET:
            self._state[:] = 0.0

    def _primed(self, audio: np.ndarray) -> np.ndarray:
        """Sound after quiet windows: the model hears the last ``PRIME`` of them first (from its
        reset state, as it would have heard the line), so its answer is not that of a model
        woken in the middle of a word."""
        held, self._held, self._quiet = self._held, np.zeros(0, dtype=np.float32), 0
        prime = held[-PRIME * WINDOW :]
        before = held[: -PRIME * WINDOW][-CONTEXT:]
        if before.size == CONTEXT:
            self._context = before.copy()
        return np.concatenate((prime, audio))

    _session: Any = None

    @classmethod
    def _pool_session(cls) -> Any:
        """The process's ONNX session, looked up once (not a path and a dict per window)."""
        if cls._session is None:
            cls._session = _silero_session()
        return cls._session


class WebRTCVAD:
    """The ``webrtc`` VAD provider: cheap enough for many calls per core, less discerning."""

    def __init__(self, mode: int) -> None:
        self.mode = mode

    def open(self, *, sample_rate: int) -> WebRTCStream:
        return WebRTCStream(self.mode, sample_rate)


class WebRTCStream:
    _RATES = (8_000, 16_000, 32_000, 48_000)

    def __init__(self, mode: int, sample_rate: int) -> None:
        import webrtcvad

        self._vad = webrtcvad.Vad(mode)
        self._rate = sample_rate if sample_rate in self._RATES else RATE
        self._resampler = Resampler(sample_rate, RATE) if self._rate != sample_rate else None
        self._piece = self._rate // 100 * 2  # 10 ms of PCM16
        self._pending = b""
        self._learning = WEBRTC_LEARNING_MS // 10
        """10 ms pieces still to hear before its answers are believed."""

    async def speech_probability(self, frame: bytes) -> float:
        piece = self._piece
        if len(frame) == 2 * piece and self._resampler is None and not self._pending:
            # The usual case, every frame of a call: two 10 ms pieces, no list, no join.
            is_speech, rate = self._vad.is_speech, self._rate
            speech = is_speech(frame[:piece], rate) + is_speech(frame[piece:], rate)
            if self._learning > 0:
                self._learning -= 2
                return 0.0
            return speech / 2
        pcm = self._resampler.process(frame) if self._resampler is not None else frame
        data = self._pending + pcm
        whole = len(data) // self._piece * self._piece
        self._pending = data[whole:]
        pieces = [data[i : i + self._piece] for i in range(0, whole, self._piece)]
        if not pieces:
            return 0.0
        speech = sum(self._vad.is_speech(piece, self._rate) for piece in pieces)
        if self._learning > 0:
            self._learning -= len(pieces)
            return 0.0
        return speech / len(pieces)
