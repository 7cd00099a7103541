"""The garbage collector on a worker: short pauses, because every call shares one event loop.

CPython frees almost everything by reference counting; the cyclic collector is there for
reference cycles, and each of its passes stops the loop while it walks every object of the
generations it collects. On a worker that walk is what costs: a 20 ms frame is due for every
call, and a pass over all the objects of a few hundred calls takes ten milliseconds or more.
The session engine leaves no cycles behind per frame or per turn (the benchmark checks the
collector finds next to nothing), so what the collector walks is live objects. Two things keep
the walks short:

- :func:`settle_after_startup`: once the worker has started, one full collection, then
  :func:`gc.freeze`: everything built at start-up (modules, the app, plugins, connection
  pools) lives as long as the process and is never walked again.
- :data:`WORKER_THRESHOLDS`: a young generation collected as usual (every 700 allocations
  net), the middle one every 5 young collections instead of 10 (so each of its passes walks
  about half as many objects: the per-turn objects of the calls that survived the young
  passes), and a full collection only every 100 middle ones instead of 10 (a full pass walks
  every live call's objects; it finds almost nothing, so it runs every few minutes on a busy
  worker instead of about every minute).

The benchmark ``session`` (docs/performance.md) measures the pauses with these settings.
"""

from __future__ import annotations

import gc

__all__ = ["WORKER_THRESHOLDS", "settle_after_startup", "use_worker_thresholds"]

WORKER_THRESHOLDS = (700, 5, 100)
"""``gc.set_threshold`` for a worker: (young allocations, young passes per middle pass, middle
passes per full pass)."""


def use_worker_thresholds() -> tuple[int, int, int]:
    """Apply :data:`WORKER_THRESHOLDS`; returns the thresholds that were in force."""
    previous = gc.get_threshold()
    gc.set_threshold(*WORKER_THRESHOLDS)
    return previous


def settle_after_startup() -> int:
    """Collect once, then freeze every surviving object out of the collector's reach.

    Call it when start-up is over and before calls arrive: the collection may take tens of
    milliseconds. Returns how many objects were frozen. Objects frozen are still freed by
    reference counting when they are dropped; only a cycle among them would stay (start-up
    objects live as long as the process anyway).
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
