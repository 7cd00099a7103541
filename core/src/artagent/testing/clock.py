"""Virtual time for asyncio: a scripted minute-long call runs in milliseconds, the same way every time.

The design is an event loop whose clock is virtual, not a clock that tries to guess when the
loop is idle. asyncio already knows exactly when every task is blocked: each loop iteration
asks its selector to wait for I/O, for ``timeout=0`` while any callback is ready to run, for
the time until the earliest timer otherwise, and indefinitely when there is no timer at all.
:class:`VirtualTimeLoop` gives a standard selector loop a selector that, instead of sleeping
through that timeout, polls the real file descriptors once and then moves virtual time straight
to the earliest timer. So time advances only when no task can run, and every
``asyncio.sleep``, ``asyncio.timeout`` and ``wait_for`` in the code under test runs on virtual
time too, not only the calls made through the :class:`~artagent.session.playout.Clock`.

Sleepers live in the loop's own timer heap, ordered by wake time; cancelling a sleeping task
cancels its timer, and the loop discards cancelled timers before choosing how far to jump.
Wake times are kept exactly: ``sleep(0.25)`` started at ``t`` resumes with ``now() == t + 0.25``
as computed in floating point, not ``t + 0.25`` minus a rounding error from the jump.

Limits, by construction:

- Real I/O races virtual time. A socket read pending while a timer is due does not hold time
  back: the timer fires as soon as the poll finds nothing to read. Talk to real servers on the
  real loop, not in a virtual-time test.
- Work handed to a thread through ``run_in_executor`` or ``asyncio.to_thread`` takes no virtual
  time: while such a job runs, no timer fires; the loop waits for the job in real time, however
  long it takes. (A job that itself waits for virtual time to pass therefore hangs.) Threads
  that reach the loop any other way (``call_soon_threadsafe``) are not waited for.
- When every task is blocked, no timer is set, no executor job runs and no file descriptor but
  the loop's own wake-up pipe is open, nothing can ever happen: after ``deadlock_after_s`` of
  real time (for a stray thread to wake the loop) :meth:`VirtualClock.run` raises
  :class:`VirtualTimeDeadlock` naming the blocked tasks, where a real loop would hang.
- A :class:`VirtualClock` only works inside :meth:`VirtualClock.run` (its own loop), so drive
  a scenario from a plain ``def test_...``, not from an ``async def`` test on pytest-asyncio's loop.
"""

from __future__ import annotations

import asyncio
import heapq
import selectors
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from contextvars import Context
from types import TracebackType
from typing import Any, TypeVar, TypeVarTuple, Unpack

from artagent.session.playout import Clock

__all__ = ["VirtualClock", "VirtualTimeDeadlock", "VirtualTimeLoop"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

_SNAP_S = 1e-9
"""A timeout computed by the loop lands within this of the timer it was computed from."""


class VirtualTimeDeadlock(RuntimeError):
    """Every task is blocked on something that nothing left can ever make happen."""


class _Timeline:
    """Virtual now, the wake times asked for, and what may hold time back."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.deadlines: list[float] = []
        self.idle_waiters: list[asyncio.Future[None]] = []
        self.executor_jobs = 0

    def advance(self, timeout: float) -> None:
        """Jump to the earliest timer, which the loop says is ``timeout`` away."""
        target = self.now + timeout
        heap = self.deadlines
        while heap and (heap[0] <= self.now or heap[0] < target - _SNAP_S):
            heapq.heappop(heap)  # passed, or a timer cancelled since
        if heap and heap[0] <= target + _SNAP_S:
            target = heap[0]
        self.now = max(self.now, target)

    def wake_idle_waiters(self) -> bool:
        waiters, self.idle_waiters = self.idle_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        return bool(waiters)


class _VirtualSelector(selectors.BaseSelector):
    """The real selector for file descriptors; the loop's waits become jumps in virtual time."""

    def __init__(self, timeline: _Timeline, deadlock_after_s: float) -> None:
        self._inner = selectors.DefaultSelector()
        self._timeline = timeline
        self._deadlock_after_s = deadlock_after_s
        self.wakeup_fds: frozenset[Any] = frozenset()

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._inner.select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        # Every task is blocked: the loop would sleep now.
        timeline = self._timeline
        if timeline.wake_idle_waiters():
            return []
        if timeline.executor_jobs:
            return self._inner.select(None)  # work in a thread takes no virtual time: wait for it
        if timeout is None:
            return self._wait_without_timers()
        timeline.advance(timeout)
        return []

    def _wait_without_timers(self) -> list[tuple[selectors.SelectorKey, int]]:
        if set(self._inner.get_map()) - self.wakeup_fds:
            return self._inner.select(None)  # real I/O may still wake a task
        ready = self._inner.select(self._deadlock_after_s)
        if not ready:
            raise VirtualTimeDeadlock("every task is blocked and nothing is scheduled")
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` is virtual and advances only when it would sleep."""

    def __init__(self, start: float = 0.0, *, deadlock_after_s: float = 1.0) -> None:
        self._timeline = _Timeline(start)
        self._pool: ThreadPoolExecutor | None = None
        selector = _VirtualSelector(self._timeline, deadlock_after_s)
        super().__init__(selector)
        selector.wakeup_fds = frozenset(selector.get_map())

    def time(self) -> float:
        return self._timeline.now

    def call_at(
        self,
        when: float,
        callback: Callable[[Unpack[_Ts]], object],
        *args: *_Ts,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        heapq.heappush(self._timeline.deadlines, when)
        return super().call_at(when, callback, *args, context=context)

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[Unpack[_Ts]], _T], *args: *_Ts
    ) -> asyncio.Future[_T]:
        if executor is None:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(thread_name_prefix="virtual-time")
            executor = self._pool
        future = super().run_in_executor(executor, func, *args)
        self._timeline.executor_jobs += 1
        future.add_done_callback(self._executor_job_done)
        return future

    def _executor_job_done(self, _: asyncio.Future[Any]) -> None:
        self._timeline.executor_jobs -= 1

    def wait_idle(self) -> asyncio.Future[None]:
        """A future that completes the next time every task is blocked, before time moves."""
        waiter: asyncio.Future[None] = self.create_future()
        self._timeline.idle_waiters.append(waiter)
        return waiter

    def close(self) -> None:
        super().close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


class VirtualClock(Clock):
    """The call's :class:`~artagent.session.playout.Clock` on virtual time, with its own loop.

    Build the fakes and the component under test with this clock, then drive the scenario with
    :meth:`run`. ``now()`` may be read at any time, also between runs; time carries over from
    one run to the next.
    """

    def __init__(self, start: float = 0.0, *, deadlock_after_s: float = 1.0) -> None:
        self.loop = VirtualTimeLoop(start, deadlock_after_s=deadlock_after_s)

    def now(self) -> float:
        return self.loop.time()

    async def sleep(self, seconds: float) -> None:
        """Resume ``seconds`` later in virtual time; ``sleep(0)`` (or less) just yields once."""
        self._check_loop()
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_until(self, when: float) -> None:
        """Resume at virtual time ``when`` exactly (at once, after one yield, if it has passed)."""
        self._check_loop()
        if when <= self.now():
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = self.loop.create_future()
        handle = self.loop.call_at(when, _resolve, wake)
        try:
            await wake
        finally:
            handle.cancel()

    async def settle(self) -> None:
        """Wait until every other task is blocked, without letting time move.

        Use it to observe the effects of an input at the instant it arrived.
        """
        self._check_loop()
        await self.loop.wait_idle()

    def run(self, main: Coroutine[Any, Any, _T], *, until: float | None = None) -> _T:
        """Run ``main`` to completion on virtual time and return its result.

        ``until`` is a virtual deadline: if ``main`` is still running then, it is cancelled and
        :class:`TimeoutError` is raised. Tasks ``main`` leaves behind are cancelled when it ends,
        as :func:`asyncio.run` does.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            main.close()
            raise RuntimeError(
                "VirtualClock.run() drives its own event loop: call it from synchronous code "
                "(a plain `def test_...`), not from inside a running loop"
            )
        if until is not None:
            main = _bounded(main, until)
        task = self.loop.create_task(main, name="main")
        try:
            return self.loop.run_until_complete(task)
        except VirtualTimeDeadlock:
            raise VirtualTimeDeadlock(self._describe_deadlock()) from None
        finally:
            self._cancel_leftovers()

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def __enter__(self) -> VirtualClock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_loop(self) -> None:
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError(
                "this VirtualClock was awaited outside its own loop, where its time would not "
                "move: drive the code with clock.run(...) from a plain (non-async) test"
            )

    def _describe_deadlock(self) -> str:
        blocked = []
        for task in asyncio.all_tasks(self.loop):
            frames = task.get_stack(limit=1)
            where = f" at {frames[0].f_code.co_filename}:{frames[0].f_lineno}" if frames else ""
            blocked.append(f"{task.get_name()}{where}")
        tasks = "; ".join(sorted(blocked))
        return f"deadlock at virtual time {self.now():g} s: every task is blocked ({tasks})"

    def _cancel_leftovers(self) -> None:
        tasks = [task for task in asyncio.all_tasks(self.loop) if not task.done()]
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        try:
            self.loop.run_until_complete(_gather_quietly(tasks))
        except VirtualTimeDeadlock:
            pass  # a task that swallows its cancellation and waits forever is left behind


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _bounded(main: Coroutine[Any, Any, _T], until: float) -> _T:
    scope = asyncio.timeout_at(until)
    try:
        async with scope:
            return await main
    except TimeoutError as error:
        if scope.expired():
            raise TimeoutError(f"the scenario was still running at virtual time {until:g} s") from error
        raise
    raise AssertionError("unreachable: the timeout scope re-raises")  # pragma: no cover


async def _gather_quietly(tasks: list[asyncio.Task[Any]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)
