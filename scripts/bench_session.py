"""Benchmark `session`: many concurrent calls through the real session engine, in real time.

One process, one event loop, like a worker: ``--calls`` (default 200) real ``Session`` objects
run at once on the loop's own clock (``LoopClock``), each with providers at zero latency and
next to zero cost, so that what is measured is the engine: a VAD that knows the caller's speech
frame by identity, a recogniser that gives a partial every 10 speech frames and the final
result at once, the test kit's ``FakeModel`` (the whole reply at once, in one delta;
``--stream-words`` streams it word by word, one loop pass per word) and ``FakeTTS`` (all the
audio at once), and ``FakeTurnDetector`` (500 ms of silence ends a turn). The scripted callers
share one timer: every 2 ms it delivers the next frame of the tenth of the callers whose turn it
is, so each caller sends a frame every 20 ms, in its own phase, as a network delivers many
calls' packets to one worker; the channel is a deque and a future, as lean as a WebSocket
reader. The fakes' records of what they did are dropped after every turn, as a real provider
keeps none. Events go through a real ``CallEmitter`` to an in-memory sink that keeps only the
figures (no Redis: this measures the engine). Calls start at random moments (fixed seed) within
``--stagger-s`` seconds.

Each call: the greeting, then ``--turns`` caller turns (1 s of speech, then silence until the
agent's 2.5 s reply has been played); in every third turn, from the first, the caller speaks
again 0.8 s into the reply (a barge-in, itself a turn that gets a reply). The caller hangs up
after the last reply: a call lasts about 35 s with the default 6 turns. One unmeasured call
first warms up caches; then, as the server does once it has started, a full collection and
``gc.freeze()`` move everything built so far out of the collector's reach, the worker's
collector thresholds (``artagent.gc_policy``) apply, and the baseline resident memory is read.
A ``LoopLagMonitor`` samples how late the loop wakes a task sleeping 10 ms over the whole
measured run, and garbage-collector pauses are timed through ``gc.callbacks`` (in wall time,
and in the CPU time of the loop's thread, which a busy machine does not inflate). CPU time and
resident memory are read while every call is running (from the last call's start to the first
call's end); the CPU time is the whole process's, scripted callers and fakes included. After
the measured run, the same number of calls is started once more and, once all of them run, one
full collection is timed (the pause a worker with this many calls takes when one comes due),
then those calls are cancelled.

Every call is wired as the launcher wires it: its events counted into the worker's metrics and
its trace asked for each turn and stage. In the measured run tracing is off (no
`[observability] otlp_endpoint`: the no-op trace, as a worker that exports nothing). A second
run of the same calls (the `traced_` figures) traces every call with the OpenTelemetry SDK, a
batch span processor and an exporter that discards the spans, so it measures what tracing costs
the event loop short of the network.

Run alone (prints the figures, writes nothing): ``.venv/bin/python scripts/bench_session.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import time
from dataclasses import dataclass
from typing import Any

import psutil
from _benchlib import Figure, percentile, within
from _session_calls import SAMPLE_RATE, Shared, Stats, barge_ins, call_seconds, one_call
from artagent.gc_policy import settle_after_startup, use_worker_thresholds
from artagent.loop_lag import LoopLagMonitor
from artagent.observability.tracing import Tracing
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

TITLE = "Session engine: concurrent calls in one process, real-time pacing, zero-latency fakes"
ABOUT = __doc__.split("\n\n", 1)[1].split("\n\nRun alone", 1)[0]
FIGURES = {
    "calls": Figure("calls", "Concurrent calls, all running during the measured window"),
    "overhead_p50_ms": Figure(
        "ms",
        "Engine overhead per turn, median: `total_ms` of agent_response_generated (from the caller's "
        "speech end, which the engine backdates to the start of the first silent frame, to the first "
        "agent frame handed to channel.send) minus the longer of the turn detector's required silence "
        "(500 ms) and `stt_ms` (the final transcript), minus `model_first_token_ms` and "
        "`tts_first_audio_ms` (provider time as measured; one loop pass each with these fakes)",
    ),
    "overhead_p99_ms": Figure("ms", "Engine overhead per turn (as above), 99th percentile", "<= 10"),
    "overhead_max_ms": Figure("ms", "Engine overhead per turn (as above), largest"),
    "provider_p99_ms": Figure(
        "ms", "Provider time subtracted from the overhead (model first token + TTS first audio), p99"
    ),
    "barge_in_p50_ms": Figure(
        "ms",
        "Barge-in reaction, median: from the arrival (push into the channel) of the caller frame "
        "that made the engine decide speech started (the one completing 60 ms of speech) to its "
        "channel.flush() call",
    ),
    "barge_in_p99_ms": Figure("ms", "Barge-in reaction (as above), 99th percentile", "<= 5"),
    "barge_in_engine_p99_ms": Figure(
        "ms",
        "Barge-in reaction from the moment the engine took that frame from channel.frames() (not "
        "counting its wait in the channel's queue), 99th percentile",
    ),
    "cpu_per_call_pct": Figure(
        "% of a core", "Process CPU time while every call runs, over wall time, per call"
    ),
    "cpu_total_pct": Figure("% of a core", "Process CPU time while every call runs, over wall time"),
    "rss_per_call_mb": Figure(
        "MB", "Resident memory with every call running minus the baseline before the first, per call", "<= 1"
    ),
    "loop_lag_max_ms": Figure(
        "ms", "Longest the event loop was late waking a task sleeping 10 ms, whole measured run", "< 10"
    ),
    "loop_lag_p99_ms": Figure("ms", "Event loop lag (as above), 99th percentile of the 10 ms samples"),
    "loop_lag_own_max_ms": Figure(
        "ms",
        "Longest loop lag of a second 10 ms sampler with each sample's lag bounded by the CPU time the "
        "loop's thread used during that sample: the most of the lag this process can have caused "
        "itself (the rest the machine added: other processes, or the hypervisor not running the VM)",
    ),
    "gc_pause_max_ms": Figure("ms", "Longest garbage-collector pause during the measured run, wall time"),
    "gc_pause_cpu_max_ms": Figure(
        "ms",
        "Longest garbage-collector pause during the measured run in CPU time of the loop's thread "
        "(what the collector itself cost; the wall time adds what other processes took meanwhile)",
    ),
    "gc_collections": Figure("passes", "Garbage-collector passes during the measured run, all generations"),
    "gc_collected": Figure(
        "objects",
        "Objects the collector freed during the measured run (garbage in reference cycles, which "
        "reference counting cannot free): the engine should leave next to none",
    ),
    "gc_full_ms": Figure(
        "ms",
        "One full collection timed with --calls calls running (a phase of its own after the measured "
        "run; with the worker's thresholds it comes due every few minutes on a busy worker), wall time",
    ),
    "gc_full_cpu_ms": Figure("ms", "The same full collection, CPU time of the loop's thread"),
    "gc_objects_per_call": Figure(
        "objects", "Objects the collector tracks (start-up objects frozen), per running call, in that phase"
    ),
    "turns": Figure("turns", "Agent replies to a caller turn measured for the overhead, all calls"),
    "barge_ins": Figure("barge-ins", "Barge-ins measured, all calls (the script has one per third turn)"),
    "underruns": Figure(
        "frames",
        "Agent frames sent after the far side had run dry (an audible gap), counted at the channel; "
        "must be 0",
    ),
    "duration_s": Figure("s", "Wall time of the measured run, first call's start to last call's end"),
    "traced_overhead_p50_ms": Figure(
        "ms", "Engine overhead per turn (as above), median, in the second run: every call traced"
    ),
    "traced_overhead_p99_ms": Figure("ms", "Engine overhead per turn, 99th percentile, every call traced"),
    "traced_barge_in_p99_ms": Figure("ms", "Barge-in reaction, 99th percentile, every call traced"),
    "traced_cpu_per_call_pct": Figure(
        "% of a core", "Process CPU time while every call runs, per call, every call traced"
    ),
    "traced_spans": Figure("spans", "Spans the traced run ended and handed to the (discarding) exporter"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=200, help="concurrent calls (default 200)")
    parser.add_argument("--turns", type=int, default=6, help="caller turns per call (default 6)")
    parser.add_argument(
        "--stagger-s", type=float, default=2.0, help="calls start at random moments within this (default 2)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the start moments (default 1)")
    parser.add_argument("--warmup-calls", type=int, default=1, help="unmeasured warm-up calls (default 1)")
    parser.add_argument(
        "--stream-words",
        action="store_true",
        help="the fake model streams its reply word by word (one loop pass each) instead of in one piece",
    )
    parser.add_argument(
        "--tts-rate", type=int, default=SAMPLE_RATE, help="the fake TTS's sample rate; not 16000: resampled"
    )


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Window:
    """CPU and memory while every call is running."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    rss_max: int = 0


async def sample_window(start: float, end: float, window: Window) -> None:
    """Read CPU time over [start, end] (loop time) and the largest RSS, twice a second."""
    loop, process = asyncio.get_running_loop(), psutil.Process()
    await asyncio.sleep(start - loop.time())
    wall, cpu = loop.time(), time.process_time()
    window.rss_max = process.memory_info().rss
    while (now := loop.time()) < end:
        await asyncio.sleep(min(0.5, end - now))
        window.rss_max = max(window.rss_max, process.memory_info().rss)
    window.wall_s, window.cpu_s = loop.time() - wall, time.process_time() - cpu


class GcPauses:
    """The longest garbage-collector pause while installed (``gc.callbacks``), in wall time and
    in the CPU time of the thread collecting."""

    def __init__(self) -> None:
        self.max_s = self.cpu_max_s = 0.0
        self.count = self.collected = 0
        self._started = self._cpu_started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started, self._cpu_started = time.perf_counter(), time.thread_time()
            return
        self.count += 1
        self.collected += info["collected"]
        self.max_s = max(self.max_s, time.perf_counter() - self._started)
        self.cpu_max_s = max(self.cpu_max_s, time.thread_time() - self._cpu_started)


class OwnLag:
    """Loop lag, sampled like ``LoopLagMonitor``, bounded by what the loop's own thread did: a
    sample's lag counts at most the CPU time that thread used during the sample. A loop woken
    late while its thread hardly ran was kept waiting by the machine (another process, or the
    hypervisor not running this virtual CPU), not by this process."""

    def __init__(self) -> None:
        self.own_max_s = 0.0

    async def run(self, interval_s: float = 0.01) -> None:
        loop = asyncio.get_running_loop()
        while True:
            cpu = time.thread_time()
            deadline = loop.time() + interval_s
            await asyncio.sleep(interval_s)
            lag = max(0.0, loop.time() - deadline)
            self.own_max_s = max(self.own_max_s, min(lag, time.thread_time() - cpu))


@dataclass
class FullCollection:
    """One full collection timed with every call of a phase running."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    objects: int = 0


class DiscardingExporter(SpanExporter):
    """Takes every batch and keeps nothing but the count: tracing's cost short of the network."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


@dataclass
class Traced:
    """The second run: every call traced."""

    stats: Stats
    window: Window
    spans: int


@dataclass
class Result:
    shared: Shared
    traced: Traced
    window: Window
    monitor: LoopLagMonitor
    own_lag: OwnLag
    pauses: GcPauses
    full: FullCollection
    baseline_rss: int
    duration_s: float


def start_offsets(args: argparse.Namespace) -> list[float]:
    rng = random.Random(args.seed)
    return sorted(rng.uniform(0, args.stagger_s) for _ in range(args.calls))


async def start_calls(args: argparse.Namespace, shared: Shared, window: Window) -> None:
    """Start the calls at their random moments and wait for all of them (and the sampler)."""
    loop = asyncio.get_running_loop()
    offsets = start_offsets(args)
    t0, length = loop.time(), call_seconds(args.turns)
    start, end = t0 + offsets[-1] + 0.2, t0 + offsets[0] + length - 0.2
    if end - start < 1.0:
        raise ValueError("calls too short for their stagger: no time when all of them run")
    all_started = loop.create_future()
    async with asyncio.TaskGroup() as group:
        group.create_task(sample_window(start, end, window), name="sampler")
        group.create_task(shared.callers.run(all_started), name="callers")
        for index, offset in enumerate(offsets):
            await asyncio.sleep(t0 + offset - loop.time())
            group.create_task(one_call(f"bench-{index:04d}", args, shared), name="call")
        all_started.set_result(None)


async def time_full_collection(args: argparse.Namespace) -> FullCollection:
    """Start the calls again; once all of them run, time one full collection; cancel them."""
    loop, shared = asyncio.get_running_loop(), Shared()
    never: asyncio.Future[None] = loop.create_future()
    tasks = [loop.create_task(shared.callers.run(never), name="callers")]
    t0 = loop.time()
    for index, offset in enumerate(start_offsets(args)):
        await asyncio.sleep(t0 + offset - loop.time())
        tasks.append(loop.create_task(one_call(f"full-{index:04d}", args, shared), name="call"))
    await asyncio.sleep(0.5)  # every call past its start, the greeting playing
    objects = len(gc.get_objects())
    wall, cpu = time.perf_counter(), time.thread_time()
    gc.collect()
    full = FullCollection(time.perf_counter() - wall, time.thread_time() - cpu, objects)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return full


async def measure_traced(args: argparse.Namespace, limit: float) -> Traced:
    """The calls again, each traced through the SDK to an exporter that discards the spans."""
    exporter, provider = DiscardingExporter(), TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracing = Tracing(provider)
    if args.warmup_calls:  # the SDK's code paths, once
        warmup = argparse.Namespace(**{**vars(args), "calls": args.warmup_calls, "turns": 1})
        await within(limit, start_calls(warmup, Shared(tracing=tracing), Window()))
    shared, window = Shared(tracing=tracing), Window()
    await within(limit, start_calls(args, shared, window))
    await asyncio.get_running_loop().run_in_executor(None, tracing.shutdown)
    return Traced(shared.stats, window, exporter.spans)


async def measure(args: argparse.Namespace) -> Result:
    limit = call_seconds(args.turns) + args.stagger_s + 60
    if args.warmup_calls:
        warmup = argparse.Namespace(**{**vars(args), "calls": args.warmup_calls, "turns": 1})
        await within(limit, start_calls(warmup, Shared(), Window()))
    settle_after_startup()  # as the server does once it has started
    thresholds = use_worker_thresholds()
    baseline_rss = psutil.Process().memory_info().rss
    shared, window, pauses, own_lag = Shared(), Window(), GcPauses(), OwnLag()
    monitor = LoopLagMonitor(interval_s=0.01, window=int(100 * limit))
    gc.callbacks.append(pauses)
    started = time.perf_counter()
    monitor.start()
    own_sampler = asyncio.create_task(own_lag.run(), name="own-lag")
    try:
        await within(limit, start_calls(args, shared, window))
        duration = time.perf_counter() - started
        own_sampler.cancel()
        await monitor.stop()
        gc.callbacks.remove(pauses)
        full = await within(limit, time_full_collection(args))
        traced = await measure_traced(args, limit)  # last: its spans leave nothing behind for the above
    finally:
        own_sampler.cancel()
        await monitor.stop()
        if pauses in gc.callbacks:
            gc.callbacks.remove(pauses)
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    return Result(shared, traced, window, monitor, own_lag, pauses, full, baseline_rss, duration)


def check_as_scripted(stats: Stats, args: argparse.Namespace, run: str) -> None:
    calls, expected = args.calls, args.calls * sum(barge_ins(args.turns))
    if stats.hangups != calls or len(stats.barge_in_ms) != expected or not stats.overhead_ms:
        raise RuntimeError(
            f"the calls did not go as scripted ({run}): {stats.hangups} of {calls} ended by the caller, "
            f"{len(stats.barge_in_ms)} of {expected} barge-ins, {len(stats.overhead_ms)} turns"
        )


def figures(result: Result, args: argparse.Namespace) -> dict[str, float]:
    stats, window, calls = result.shared.stats, result.window, args.calls
    check_as_scripted(stats, args, "measured run")
    cpu_pct = 100 * window.cpu_s / window.wall_s
    pauses, full, traced = result.pauses, result.full, result.traced
    check_as_scripted(traced.stats, args, "traced run")
    return {
        "calls": calls,
        "overhead_p50_ms": round(percentile(stats.overhead_ms, 50), 2),
        "overhead_p99_ms": round(percentile(stats.overhead_ms, 99), 2),
        "overhead_max_ms": round(max(stats.overhead_ms), 2),
        "provider_p99_ms": round(percentile(stats.provider_ms, 99), 2),
        "barge_in_p50_ms": round(percentile(stats.barge_in_ms, 50), 3),
        "barge_in_p99_ms": round(percentile(stats.barge_in_ms, 99), 3),
        "barge_in_engine_p99_ms": round(percentile(stats.barge_in_engine_ms, 99), 3),
        "cpu_per_call_pct": round(cpu_pct / calls, 3),
        "cpu_total_pct": round(cpu_pct, 1),
        "rss_per_call_mb": round((window.rss_max - result.baseline_rss) / calls / 2**20, 3),
        "loop_lag_max_ms": round(result.monitor.max_lag_s * 1000, 2),
        "loop_lag_p99_ms": round(result.monitor.percentile(99) * 1000, 2),
        "loop_lag_own_max_ms": round(result.own_lag.own_max_s * 1000, 2),
        "gc_pause_max_ms": round(pauses.max_s * 1000, 2),
        "gc_pause_cpu_max_ms": round(pauses.cpu_max_s * 1000, 2),
        "gc_collections": pauses.count,
        "gc_collected": pauses.collected,
        "gc_full_ms": round(full.wall_s * 1000, 2),
        "gc_full_cpu_ms": round(full.cpu_s * 1000, 2),
        "gc_objects_per_call": round(full.objects / calls),
        "turns": len(stats.overhead_ms),
        "barge_ins": len(stats.barge_in_ms),
        "underruns": stats.underruns,
        "duration_s": round(result.duration_s, 1),
        "traced_overhead_p50_ms": round(percentile(traced.stats.overhead_ms, 50), 2),
        "traced_overhead_p99_ms": round(percentile(traced.stats.overhead_ms, 99), 2),
        "traced_barge_in_p99_ms": round(percentile(traced.stats.barge_in_ms, 99), 3),
        "traced_cpu_per_call_pct": round(100 * traced.window.cpu_s / traced.window.wall_s / calls, 3),
        "traced_spans": traced.spans,
    }


def run(args: argparse.Namespace) -> dict[str, float]:
    """Run the warm-up, the measured calls and the full-collection phase on a fresh event loop."""
    if args.calls < 1 or args.turns < 1:
        raise ValueError("--calls and --turns must be at least 1")
    return figures(asyncio.run(measure(args)), args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_arguments(parser)
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
