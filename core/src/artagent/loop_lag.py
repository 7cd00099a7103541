"""How late the event loop wakes up: the one figure that says a call's audio is being starved.

Every call of a worker shares one event loop, and a frame is due every 20 ms. Anything that
holds the loop (a blocking call, a long collection by the garbage collector, too much work per
frame) delays every call's frames at once, yet shows up in no per-call latency until it is
large. :class:`LoopLagMonitor` measures it directly: a task sleeps ``interval_s`` over and
over and records how far past its deadline it woke. On an idle loop that is well under a
millisecond; a loop blocked for 50 ms shows a sample of about 40 to 50 ms.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram

__all__ = ["LoopLagMonitor"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class LoopLagMonitor:
    """Samples the running loop's wake-up lag; ``start()`` on the loop, ``await stop()`` at the end.

    ``window`` recent samples are kept for :meth:`percentile`; the maximum and the count cover
    everything since :meth:`start` or the last :meth:`reset`. With a ``registry`` the samples
    also go to ``artagent_event_loop_lag_seconds`` (histogram) and the maximum to
    ``artagent_event_loop_lag_max_seconds`` (gauge); with ``None`` they are kept unregistered.
    """

    def __init__(
        self, *, interval_s: float = 0.01, window: int = 6000, registry: CollectorRegistry | None = None
    ) -> None:
        if interval_s <= 0 or window < 1:
            raise ValueError("interval_s must be positive and window at least 1")
        self.interval_s = interval_s
        self._recent: deque[float] = deque(maxlen=window)
        self._task: asyncio.Task[None] | None = None
        self.max_lag_s = 0.0
        """The largest lag seen, in seconds."""
        self.max_at: float | None = None
        """Loop time at which the largest lag ended (the late wake-up), ``None`` before a sample."""
        self.samples = 0
        """Wake-ups measured."""
        kw: dict[str, Any] = {"registry": registry}
        self._histogram = Histogram(
            "artagent_event_loop_lag_seconds",
            "How late the event loop woke a sleeping task past its deadline",
            buckets=_BUCKETS,
            **kw,
        )
        self._max_gauge = Gauge(
            "artagent_event_loop_lag_max_seconds", "Largest event loop lag since start or reset", **kw
        )

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start sampling on the running loop (a no-op when already sampling)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._sample(), name="loop-lag")

    async def stop(self) -> None:
        """Stop sampling; the figures stay readable."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    def reset(self) -> None:
        """Forget the samples so far, e.g. after a warm-up that is not part of what is measured."""
        self._recent.clear()
        self.max_lag_s, self.max_at, self.samples = 0.0, None, 0
        self._max_gauge.set(0.0)

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0-100, nearest rank) of the recent samples; 0.0 without any."""
        if not self._recent:
            return 0.0
        ordered = sorted(self._recent)
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1]

    def record(self, lag_s: float, at: float) -> None:
        """Account for one wake-up that came ``lag_s`` late at loop time ``at``."""
        self.samples += 1
        self._recent.append(lag_s)
        self._histogram.observe(lag_s)
        if lag_s > self.max_lag_s or self.max_at is None:
            self.max_lag_s, self.max_at = lag_s, at
            self._max_gauge.set(lag_s)

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            deadline = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            woke = loop.time()
            # asyncio may run a timer up to its clock resolution early: that is no lag.
            self.record(max(0.0, woke - deadline), woke)
