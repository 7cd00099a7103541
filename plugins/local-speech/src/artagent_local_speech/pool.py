"""Bounded thread pools for inference, one per model kind, measured while they work.

Whisper, Piper and Silero run in native code that releases the GIL, so a few threads give real
parallelism without blocking the event loop. A pool has a fixed number of threads; when every
one is busy, further jobs wait in its queue, and the queue's depth and each job's wait are
exported (rather than the work piling up unseen). A job awaited with :meth:`InferencePool.run`
is handed back to its event loop together with the other jobs that finished meanwhile: one
wake-up of the loop for all of them, not one per job (Silero runs a job per 32 ms window of
every speaking call).

- ``artagent_local_speech_queue_depth{pool}``: jobs waiting for a thread, now;
- ``artagent_local_speech_running{pool}``: jobs running, now;
- ``artagent_local_speech_workers{pool}``: the pool's threads;
- ``artagent_local_speech_queue_wait_seconds{pool}``: how long each job waited (histogram);
- ``artagent_local_speech_inference_seconds{pool}``: how long each job ran (histogram).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, ClassVar, TypeVar

from prometheus_client import CollectorRegistry, Gauge, Histogram

__all__ = ["InferencePool", "PoolMetrics"]

T = TypeVar("T")

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PoolMetrics:
    """The pools' metrics in one registry (the runtime's), labelled by pool name."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        labels = ["pool"]
        self.queue_depth = Gauge(
            "artagent_local_speech_queue_depth",
            "Inference jobs waiting for a thread",
            labels,
            registry=registry,
        )
        self.running = Gauge(
            "artagent_local_speech_running", "Inference jobs running", labels, registry=registry
        )
        self.workers = Gauge(
            "artagent_local_speech_workers", "Threads of the pool", labels, registry=registry
        )
        self.wait = Histogram(
            "artagent_local_speech_queue_wait_seconds",
            "Time an inference job waited for a thread",
            labels,
            buckets=_BUCKETS,
            registry=registry,
        )
        self.run = Histogram(
            "artagent_local_speech_inference_seconds",
            "Time an inference job ran",
            labels,
            buckets=_BUCKETS,
            registry=registry,
        )


class InferencePool:
    """``workers`` threads shared by every call of the runtime, for one kind of model."""

    def __init__(self, name: str, workers: int, metrics: PoolMetrics | None = None) -> None:
        self.name = name
        self.workers = workers
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._waiting = 0
        self._running = 0
        self._closed = False
        self._wait: Histogram | None = None
        self._run: Histogram | None = None
        if metrics is not None:
            metrics.queue_depth.labels(name).set_function(lambda: self._waiting)
            metrics.running.labels(name).set_function(lambda: self._running)
            metrics.workers.labels(name).set(workers)
            self._wait, self._run = metrics.wait.labels(name), metrics.run.labels(name)

    @property
    def queued(self) -> int:
        """Jobs waiting for a thread."""
        return self._waiting

    @property
    def idle(self) -> bool:
        """A job submitted now would start at once."""
        with self._lock:
            return self._waiting + self._running < self.workers

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue ``fn(*args)``; the future can be cancelled while the job still waits."""
        future: Future[T] = Future()
        job = _Job(fn, args, future, None)
        future.add_done_callback(lambda _: self._forget(job))
        self._put(job)
        return future

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the pool; cancelling the await drops a job that has not started."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        job = _Job(fn, args, waiter, _Returns.of(loop))
        waiter.add_done_callback(lambda _: self._forget(job))
        self._put(job)
        return await waiter

    def close(self) -> None:
        """Drop the waiting jobs; running ones finish in the background."""
        self._closed = True
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.drop()  # its done callback counts it out of the queue
        for _ in self._threads:
            self._jobs.put(None)

    def _put(self, job: _Job) -> None:
        if self._closed:
            raise RuntimeError(f"the {self.name} pool is closed")
        with self._lock:
            self._waiting += 1
            if len(self._threads) < self.workers and self._waiting + self._running > len(self._threads):
                thread = threading.Thread(
                    target=self._work, name=f"speech-{self.name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        self._jobs.put(job)

    def _forget(self, job: _Job) -> None:
        """A job's future is done: if it never started, it was cancelled while it waited."""
        with self._lock:
            if not job.started and not job.forgotten:
                job.forgotten = True
                self._waiting -= 1

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            started = time.perf_counter()
            if not job.start():  # cancelled while it waited (its callback counts it out)
                continue
            with self._lock:
                if job.forgotten:
                    continue
                job.started = True
                self._waiting -= 1
                self._running += 1
            if self._wait is not None:
                self._wait.observe(started - job.submitted)
            try:
                result: Any = job.fn(*job.args)
            except BaseException as exc:  # handed to whoever awaits the job
                job.fail(exc)
            else:
                job.succeed(result)
            finally:
                with self._lock:
                    self._running -= 1
                if self._run is not None:
                    self._run.observe(time.perf_counter() - started)


class _Returns:
    """Finished jobs on their way back to one event loop: the first of a batch wakes the loop
    (``call_soon_threadsafe``), the others join it until the loop has taken the batch."""

    _by_loop: ClassVar[dict[asyncio.AbstractEventLoop, _Returns]] = {}
    _made: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._done: list[tuple[asyncio.Future[Any], bool, Any]] = []

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _Returns:
        returns = cls._by_loop.get(loop)
        if returns is None:
            with cls._made:
                returns = cls._by_loop.get(loop)
                if returns is None:
                    if len(cls._by_loop) > 64:  # loops of finished tests: forget the closed ones
                        for old in [old for old in cls._by_loop if old.is_closed()]:
                            del cls._by_loop[old]
                    returns = cls._by_loop[loop] = _Returns(loop)
        return returns

    def give(self, waiter: asyncio.Future[Any], ok: bool, value: Any) -> None:
        with self._lock:
            first = not self._done
            self._done.append((waiter, ok, value))
        if first:
            try:
                self.loop.call_soon_threadsafe(self._settle)
            except RuntimeError:  # the loop is closed: nobody awaits these any more
                with self._lock:
                    self._done.clear()

    def _settle(self) -> None:
        with self._lock:
            done, self._done = self._done, []
        for waiter, ok, value in done:
            if waiter.done():  # cancelled meanwhile
                continue
            if ok:
                waiter.set_result(value)
            else:
                waiter.set_exception(value)


class _Job:
    __slots__ = ("args", "fn", "forgotten", "returns", "started", "submitted", "waiter")

    def __init__(
        self, fn: Callable[..., Any], args: tuple[Any, ...], waiter: Any, returns: _Returns | None
    ) -> None:
        self.fn, self.args, self.waiter, self.returns = fn, args, waiter, returns
        self.submitted = time.perf_counter()
        self.started = self.forgotten = False

    def start(self) -> bool:
        """False when whoever awaited the job has given up on it."""
        if self.returns is None:
            return bool(self.waiter.set_running_or_notify_cancel())
        return not self.waiter.done()  # read from this thread: at worst, one job runs for nobody

    def succeed(self, value: Any) -> None:
        if self.returns is None:
            self.waiter.set_result(value)
        else:
            self.returns.give(self.waiter, True, value)

    def fail(self, exc: BaseException) -> None:
        if self.returns is None:
            self.waiter.set_exception(exc)
        else:
            self.returns.give(self.waiter, False, exc)

    def drop(self) -> None:
        if self.returns is None:
            self.waiter.cancel()
        elif not self.returns.loop.is_closed():
            self.returns.loop.call_soon_threadsafe(self.waiter.cancel)
