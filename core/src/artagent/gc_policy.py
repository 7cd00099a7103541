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
- :data:`WORKER_THRESHOLDS`: the young generation collected as usual (every 700 allocations
  net); the middle one, which holds what outlived a young pass (on a worker mostly the
  per-turn objects of live calls: a reply's tasks and buffers, gone within seconds), every
  other young pass instead of every tenth, so that each pass walks about half as many objects
  (the same work in all, in shorter pauses); and a full pass only every 500 middle ones (a full
  pass walks every live call's objects and finds almost nothing: on a busy worker it then
  comes every few minutes instead of about every minute).

The benchmark ``session`` (docs/performance.md) measures the pauses with these settings.
"""

from __future__ import annotations

import gc

__all__ = ["WORKER_THRESHOLDS", "settle_after_startup", "use_worker_thresholds"]

WORKER_THRESHOLDS = (700, 1, 500)
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
