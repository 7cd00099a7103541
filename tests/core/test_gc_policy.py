"""The worker's garbage-collector settings: start-up objects frozen, worker thresholds."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from artagent.gc_policy import WORKER_THRESHOLDS, settle_after_startup, use_worker_thresholds


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_settling_collects_start_up_garbage_and_freezes_what_survives(restored_gc: None) -> None:
    kept = [Node()]
    garbage = Node()
    garbage.other = Node()
    garbage.other.other = garbage  # a cycle only the collector can free
    gone = weakref.ref(garbage)
    del garbage

    frozen = settle_after_startup()

    assert gone() is None
    assert frozen == gc.get_freeze_count() > 0
    assert not any(obj is kept for obj in gc.get_objects())  # never walked again
    assert kept[0].other is None  # frozen objects stay usable


def test_worker_thresholds_apply_and_the_previous_ones_are_returned(restored_gc: None) -> None:
    gc.set_threshold(700, 10, 10)

    previous = use_worker_thresholds()

    assert previous == (700, 10, 10)
    assert gc.get_threshold() == WORKER_THRESHOLDS
    _, middle, full = WORKER_THRESHOLDS
    assert middle < 10 < full  # shorter middle passes, rarer full ones than CPython's defaults
