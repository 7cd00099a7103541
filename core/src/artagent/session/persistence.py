"""Keeping one call's state in Redis while this worker drives it.

The :class:`StateKeeper` claims the call's lease before the call starts (so two workers never
drive one call), loads the state when the call is being resumed, saves it in the background
after every turn, renews the lease while the call runs, and at the end writes the last state
and releases the lease.

Saving never holds up the call: :meth:`StateKeeper.changed` only marks the state dirty and a
background task writes it, the latest version winning (each save writes the whole state, so
skipping an intermediate version loses nothing). While Redis is unreachable the writes are
retried with a growing pause; the state is in memory meanwhile and the next successful save
carries everything.
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from artagent.session.state import SessionError, SessionState, SessionStore, StaleSessionError

__all__ = ["CallOwnedElsewhereError", "StateKeeper"]

log = logging.getLogger(__name__)


class CallOwnedElsewhereError(SessionError):
    """Another worker holds the call's lease: it is driving the call."""


class StateKeeper:
    """One call's state: lease, resume, background saves."""

    def __init__(
        self, store: SessionStore, worker: str, *, lease_s: float = 30.0, retry_max_s: float = 1.0
    ) -> None:
        self.store, self.worker = store, worker
        self.lease_s, self.retry_max_s = lease_s, retry_max_s
        self.state: SessionState | None = None
        self.saves = 0
        self.failures = 0
        """Save or renewal attempts that failed (Redis unreachable), retried since."""
        self.lost = False
        """Another worker saved the call: this one stopped writing it."""
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._saving: asyncio.Future[None] | None = None

    async def acquire(self, call_id: str, channel: str, *, resume: bool = True) -> SessionState:
        """Claim the call and return its state: the stored one when ``resume`` and there is one
        (another worker drove the call before), else a new one. Raises
        :class:`CallOwnedElsewhereError` while another worker holds the lease."""
        if not await self.store.claim(call_id, self.worker, self.lease_s):
            owner = await self.store.owner(call_id)
            raise CallOwnedElsewhereError(f"call {call_id!r} is being driven by worker {owner!r}")
        stored = await self.store.load(call_id)
        if stored is not None and resume:
            self.state = stored
        else:  # a new call; a stale state under the same id is overwritten
            self.state = SessionState(call_id=call_id, channel=channel)
            self.state.version = stored.version if stored is not None else 0
        self.state.worker = self.worker
        self._task = asyncio.create_task(self._keep(), name=f"state-keeper-{call_id}")
        return self.state

    def changed(self) -> None:
        """The state changed (a turn ended): write it soon."""
        self._dirty.set()

    async def close(self, timeout_s: float = 5.0) -> bool:
        """Write the last state (retrying up to ``timeout_s``) and release the lease.
        Returns False when the last state could not be written in time; True when it was, or
        when another worker has taken the call over (its state is not this worker's to write)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._saving is not None:  # a background save in flight: let it land first
            await asyncio.wait({self._saving}, timeout=timeout_s)
        state = self.state
        if state is None:
            return True
        saved = self.lost or await self._save_until(asyncio.get_running_loop().time() + timeout_s)
        try:
            await self.store.release(state.call_id, self.worker)
        except (RedisError, OSError) as error:  # the lease simply expires
            log.warning("call %s: could not release the lease: %s", state.call_id, error)
        return saved

    async def _keep(self) -> None:
        renew_every = self.lease_s / 3
        while not self.lost:
            try:
                # Not wait_for: on Python 3.11 it swallows a cancel() that arrives just as the
                # event is set (as at the end of every call), and close() would wait forever.
                async with asyncio.timeout(renew_every):
                    await self._dirty.wait()
            except TimeoutError:
                await self._renew()
                continue
            await self._save_until(None)

    async def _save_until(self, deadline: float | None) -> bool:
        """Save until it works (or ``deadline`` on the loop clock passes)."""
        pause = 0.05
        loop = asyncio.get_running_loop()
        while True:
            if await self._save_once():
                return True
            if deadline is not None and loop.time() + pause > deadline:
                return False
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.retry_max_s)

    async def _save_once(self) -> bool:
        state = self.state
        if state is None or self.lost:
            return True
        self._dirty.clear()
        # Shielded: cancelling a save in flight (close() stops the background task) would not
        # stop it reaching Redis, but this worker would not learn the version it wrote, and its
        # last save would then be refused as stale.
        self._saving = saving = asyncio.ensure_future(self.store.save(state))
        saving.add_done_callback(_retrieve)
        try:
            await asyncio.shield(saving)
        except StaleSessionError as error:
            self.lost = True
            log.error("call %s: %s; this worker stops writing it", state.call_id, error)
            return True
        except (RedisError, OSError) as error:
            self._dirty.set()
            self.failures += 1
            log.warning("call %s: saving the session failed (will retry): %s", state.call_id, error)
            return False
        self.saves += 1
        return True

    async def _renew(self) -> None:
        state = self.state
        if state is None:
            return
        try:
            if not await self.store.renew(state.call_id, self.worker, self.lease_s):
                # The lease lapsed (Redis was away, or restarted without it): take it back
                # unless someone else has.
                await self.store.claim(state.call_id, self.worker, self.lease_s)
        except (RedisError, OSError) as error:
            self.failures += 1
            log.warning("call %s: renewing the lease failed (will retry): %s", state.call_id, error)


def _retrieve(future: asyncio.Future[None]) -> None:
    """A shielded save's error is handled by whoever awaited it, or by the next save."""
    if not future.cancelled():
        future.exception()
