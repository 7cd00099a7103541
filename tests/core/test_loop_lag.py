"""The event-loop lag monitor on the real loop: a blocked loop is seen, an idle one is not."""

from __future__ import annotations

import asyncio
import time

import pytest
from artagent.loop_lag import LoopLagMonitor
from prometheus_client import CollectorRegistry


async def block_loop(seconds: float) -> None:
    """Hold the event loop the way a blocking call inside async code would."""
    time.sleep(seconds)  # noqa: ASYNC251 - blocking the loop is the point


async def test_a_blocked_loop_shows_as_lag_at_the_time_it_happened() -> None:
    monitor = LoopLagMonitor(interval_s=0.01)
    monitor.start()
    await asyncio.sleep(0.05)  # the monitor is asleep on its timer when the loop is blocked
    blocked_at = asyncio.get_running_loop().time()
    await block_loop(0.05)
    await asyncio.sleep(0.05)
    await monitor.stop()

    assert monitor.max_lag_s >= 0.039
    assert monitor.max_at is not None and blocked_at + 0.05 <= monitor.max_at < blocked_at + 0.07
    assert monitor.percentile(100) == monitor.max_lag_s


async def test_an_idle_loop_stays_far_below_a_frame() -> None:
    monitor = LoopLagMonitor(interval_s=0.005)
    monitor.start()
    await asyncio.sleep(0.3)
    await monitor.stop()

    assert monitor.samples >= 20
    assert monitor.max_lag_s < 0.01
    assert 0.0 <= monitor.percentile(50) <= monitor.percentile(99) <= monitor.max_lag_s


async def test_stop_cancels_the_sampler_and_keeps_the_figures() -> None:
    monitor = LoopLagMonitor(interval_s=0.01)
    monitor.start()
    monitor.start()  # already sampling: no second task
    sampler = next(t for t in asyncio.all_tasks() if t.get_name() == "loop-lag")
    await asyncio.sleep(0.05)
    await monitor.stop()
    samples = monitor.samples
    await asyncio.sleep(0.03)

    assert sampler.cancelled() and not monitor.running
    assert [t for t in asyncio.all_tasks() if t.get_name() == "loop-lag"] == []
    assert samples >= 2 and monitor.samples == samples
    await monitor.stop()  # a second stop is harmless


async def test_reset_forgets_the_warm_up() -> None:
    monitor = LoopLagMonitor(interval_s=0.01)
    monitor.start()
    await asyncio.sleep(0.02)
    await block_loop(0.03)
    await asyncio.sleep(0.02)
    assert monitor.max_lag_s >= 0.015

    monitor.reset()
    await asyncio.sleep(0.05)
    await monitor.stop()

    assert monitor.max_lag_s < 0.01 and 1 <= monitor.samples <= 6
    assert monitor.max_at is not None


async def test_samples_and_maximum_are_exported_to_the_registry() -> None:
    registry = CollectorRegistry()
    monitor = LoopLagMonitor(interval_s=0.01, registry=registry)
    monitor.start()
    await asyncio.sleep(0.02)
    await block_loop(0.03)
    await asyncio.sleep(0.03)
    await monitor.stop()

    count = registry.get_sample_value("artagent_event_loop_lag_seconds_count")
    assert count == monitor.samples > 0
    assert registry.get_sample_value("artagent_event_loop_lag_max_seconds") == monitor.max_lag_s
    under_1ms = registry.get_sample_value("artagent_event_loop_lag_seconds_bucket", {"le": "0.001"})
    under_1s = registry.get_sample_value("artagent_event_loop_lag_seconds_bucket", {"le": "1.0"})
    assert under_1ms is not None and under_1s == count and under_1ms < count  # the block is > 1 ms


def test_percentile_is_nearest_rank_and_settings_are_checked() -> None:
    monitor = LoopLagMonitor(window=4)
    assert monitor.percentile(99) == 0.0
    for lag in (0.004, 0.001, 0.003, 0.002, 0.005):  # the window keeps the last four
        monitor.record(lag, at=1.0)
    assert monitor.percentile(50) == 0.002 and monitor.percentile(100) == 0.005
    assert monitor.samples == 5 and monitor.max_lag_s == 0.005
    with pytest.raises(ValueError, match="interval_s"):
        LoopLagMonitor(interval_s=0)
