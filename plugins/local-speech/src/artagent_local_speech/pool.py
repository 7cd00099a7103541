"""Bounded thread pools for inference, one per model kind, measured while they work.

Whisper, Piper and Silero run in native code that releases the GIL, so a few threads give real
parallelism without blocking the event loop. A pool has a fixed number of threads; when every
one is busy, further jobs wait in its queue, and the queue's depth and each job's wait are
exported (rather than the work piling up unseen):

- ``artagent_local_speech_queue_depth{pool}``: jobs waiting for a thread, now;
- ``artagent_local_speech_running{pool}``: jobs running, now;
- ``artagent_local_speech_workers{pool}``: the pool's threads;
- ``artagent_local_speech_queue_wait_seconds{pool}``: how long each job waited (histogram);
- ``artagent_local_speech_inference_seconds{pool}``: how long each job ran (histogram).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

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
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"speech-{name}")
        self._lock = threading.Lock()
        self._waiting = 0
        self._running = 0
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
        with self._lock:
            self._waiting += 1
        future = self._executor.submit(self._call, time.perf_counter(), fn, args)
        future.add_done_callback(self._forget_cancelled)
        return future

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the pool; cancelling the await drops a job that has not started."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def close(self) -> None:
        """Drop the waiting jobs; running ones finish in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _call(self, submitted: float, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        started = time.perf_counter()
        with self._lock:
            self._waiting -= 1
            self._running += 1
        if self._wait is not None:
            self._wait.observe(started - submitted)
        try:
            return fn(*args)
        finally:
            with self._lock:
                self._running -= 1
            if self._run is not None:
                self._run.observe(time.perf_counter() - started)

    def _forget_cancelled(self, future: Future[Any]) -> None:
        if future.cancelled():  # it never ran, so _call never counted it out of the queue
            with self._lock:
                self._waiting -= 1
