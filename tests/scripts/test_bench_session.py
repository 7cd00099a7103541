"""The `session` benchmark's measuring pieces, and a tiny real run of it.

The figures and their goals live in docs/performance.md; here only what the benchmark counts
is checked: which turns and flushes it attributes, and that a short run reports every figure.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from pathlib import Path

import pytest
from artagent.events import AgentResponseGenerated, TurnLatency
from artagent.session.playout import LoopClock
from artagent.testing import tone_frame

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))  # the scripts are not a package; import them as bench.py does

import bench  # noqa: E402
import bench_session  # noqa: E402
from _session_calls import BenchChannel, Shared, Stats, one_call  # noqa: E402


def reply(**latency: float) -> AgentResponseGenerated:
    return AgentResponseGenerated(call_id="c", seq=1, latency=TurnLatency(**latency))


def test_overhead_is_total_less_the_silence_waited_and_provider_time() -> None:
    stats = Stats()

    stats.add_turn(reply(total_ms=523.4, stt_ms=240.0, model_first_token_ms=1.0, tts_first_audio_ms=2.0))
    stats.add_turn(reply(total_ms=730.0, stt_ms=700.0, model_first_token_ms=0.0, tts_first_audio_ms=0.0))
    stats.add_turn(AgentResponseGenerated(call_id="c", seq=2))  # the greeting: no latency

    assert stats.overhead_ms == pytest.approx([20.4, 30.0])  # a late final transcript is waited for
    assert stats.provider_ms == pytest.approx([3.0, 0.0])


async def test_a_flush_is_timed_against_the_frame_being_handled() -> None:
    stats = Stats()
    channel = BenchChannel(LoopClock(), stats)
    for _ in range(3):
        channel.push(tone_frame())
    channel.leave()
    frames = channel.frames()

    await anext(frames)
    await asyncio.sleep(0.02)  # the engine takes its time over the first frame, then flushes
    await channel.flush()
    await anext(frames)
    await anext(frames)
    with pytest.raises(StopAsyncIteration):
        await anext(frames)
    await channel.flush()  # after the caller left (the end of the call): no barge-in

    assert len(stats.barge_in_ms) == len(stats.barge_in_engine_ms) == 1
    assert stats.barge_in_ms[0] >= stats.barge_in_engine_ms[0] >= 15


async def test_underruns_count_gaps_within_an_utterance_only() -> None:
    stats = Stats()
    channel = BenchChannel(LoopClock(), stats)

    channel.utterance_started()
    await channel.send(b"")  # an utterance's first frame, after silence: no underrun
    await channel.send(b"")  # on time: the far side still has 20 ms to play
    await asyncio.sleep(0.05)
    await channel.send(b"")  # the far side ran dry 10 ms ago: the caller heard a gap

    assert stats.underruns == 1


async def test_a_call_has_its_caller_on_the_timer_before_its_task_runs() -> None:
    # The callers' timer ends once every caller it holds is done: a caller added only when its
    # call's task first ran could miss it, and that call would wait for its caller forever.
    shared = Shared()
    args = bench.options(bench_session, "session", ["--turns", "1"])

    call = one_call("c", args, shared)

    assert len(shared.callers) == 1
    call.close()


def test_a_tiny_run_reports_every_figure() -> None:
    argv = ["--calls", "3", "--turns", "1", "--stagger-s", "0.3", "--warmup-calls", "0"]
    args = bench.options(bench_session, "session", argv)

    figures = bench_session.run(args)

    assert set(figures) == set(bench_session.FIGURES)
    assert figures["calls"] == 3
    assert figures["turns"] == 6  # the reply that was interrupted and the one to the interruption
    assert figures["barge_ins"] == 3
    assert figures["barge_in_p99_ms"] >= figures["barge_in_engine_p99_ms"] > 0
    assert figures["overhead_p50_ms"] <= figures["overhead_p99_ms"] <= figures["overhead_max_ms"]
    assert figures["cpu_total_pct"] > figures["cpu_per_call_pct"] > 0
    assert figures["loop_lag_max_ms"] >= figures["loop_lag_p99_ms"]
    assert figures["duration_s"] >= bench_session.call_seconds(1)
    assert figures["gc_full_cpu_ms"] > 0 and figures["gc_objects_per_call"] > 0
    # The second run traces every call: at least a call span, the greeting and two turns each.
    assert figures["traced_spans"] >= 3 * (1 + 2 + 1)
    assert figures["traced_overhead_p50_ms"] <= figures["traced_overhead_p99_ms"]
    assert figures["traced_barge_in_p99_ms"] > 0 and figures["traced_cpu_per_call_pct"] > 0


def test_gc_pauses_count_each_pass_and_what_it_freed() -> None:
    pauses = bench_session.GcPauses()
    gc.disable()  # only the passes asked for below
    gc.callbacks.append(pauses)
    try:
        for _ in range(2):
            ring: list[object] = []
            ring.append(ring)  # a cycle only the collector can free
            del ring
            gc.collect()
    finally:
        gc.callbacks.remove(pauses)
        gc.enable()
    assert pauses.count == 2
    assert pauses.collected >= 2
    assert pauses.max_s > 0


async def test_own_lag_counts_a_busy_loop_but_not_a_machine_that_stalled_it() -> None:
    lag = bench_session.OwnLag()
    sampler = asyncio.create_task(lag.run(interval_s=0.005))
    await asyncio.sleep(0.02)
    time.sleep(0.06)  # noqa: ASYNC251 (on purpose: the thread kept from running, no CPU spent)
    await asyncio.sleep(0.02)
    stalled = lag.own_max_s
    end = time.thread_time() + 0.06
    while time.thread_time() < end:  # this process itself keeps the loop busy
        pass
    await asyncio.sleep(0.02)
    sampler.cancel()
    assert stalled < 0.03
    assert lag.own_max_s >= 0.05
