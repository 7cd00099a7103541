"""Benchmark `bus`: events per second through the real event bus, and what publish() costs a call.

One process, one event loop, like a worker: the real ``Outbox`` publishes to a Redis Stream on a
private embedded Redis (Unix socket, append-only file on, as ``redis_url = "embedded"`` runs it)
and the real ``BusConsumers`` reads it back in a consumer group and hands every batch to a
``Subscription`` handler, with deduplication by event id and acknowledgement as in production.
Bus settings are runtime.toml's defaults (``BusConfig()``: 1024 entries per XREADGROUP, 512 events
per outbox round trip, written by one Lua script; hiredis parses replies); redis-server has the
machine's other core.

About a hundred calls each stamp their events through a ``CallEmitter``: partial and final
transcriptions and agent responses with a per-turn latency breakdown. The publisher yields to
the event loop every ``--burst`` events, so the outbox's publisher task and the subscriber run
concurrently with it. Every ``outbox.publish()`` call is timed with ``time.perf_counter_ns``.

Run alone (prints the figures, writes nothing): ``.venv/bin/python scripts/bench_bus.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from _benchlib import Figure, percentile
from artagent.bus.outbox import CallEmitter, Outbox
from artagent.bus.redis import EmbeddedRedis, async_client
from artagent.bus.subscribers import BusConsumers, Subscription
from artagent.config import BusConfig, OutboxConfig
from artagent.events import AgentResponseGenerated, Event, EventCatalogue, TranscriptionReceived, TurnLatency
from prometheus_client import CollectorRegistry

TITLE = "Event bus: end-to-end throughput and publish() latency"
ABOUT = __doc__.split("\n\n", 1)[1].split("\n\nRun alone", 1)[0]
FIGURES = {
    "events_per_s": Figure(
        "events/s",
        "Events published and handled by the subscriber, from the first publish() to the last "
        "event handled; median over the repetitions",
        ">= 20000",
    ),
    "publish_p99_us": Figure(
        "µs", "99th percentile of one outbox.publish() call; median over repetitions", "< 50"
    ),
    "publish_p50_us": Figure("µs", "Median of one outbox.publish() call; median over repetitions"),
    "publish_max_us": Figure(
        "µs", "Slowest outbox.publish() call of all repetitions (milliseconds: a garbage-collector pause)"
    ),
    "events_per_s_min": Figure("events/s", "Slowest repetition's end-to-end rate"),
    "events_per_s_max": Figure("events/s", "Fastest repetition's end-to-end rate"),
    "stream_write_per_s": Figure(
        "events/s", "Events written to the stream by the outbox, from the first publish() until it is empty"
    ),
    "events": Figure("events", "Events published per repetition"),
    "consumed": Figure("events", "Distinct events the subscriber handled, all repetitions"),
    "duplicates": Figure("events", "Events the subscriber's handler was given twice (must be 0)"),
    "duplicates_dropped": Figure(
        "events", "Redelivered entries the consumer dropped by event id before the handler"
    ),
    "lost": Figure("events", "Published events the subscriber never handled (must be 0)"),
    "spilled": Figure("events", "Events the outbox moved to its spill file (0 unless it fell behind)"),
    "repetitions": Figure("runs", "Measured repetitions (after one warm-up run)"),
    "duration_s": Figure("s", "Median time of one repetition, first publish to last event handled"),
    "calls": Figure("calls", "Concurrent calls publishing"),
    "cpu_python_pct": Figure(
        "% of a core", "CPU time of the benchmark process (all threads) over the run's time"
    ),
    "cpu_redis_pct": Figure("% of a core", "CPU time of the redis-server process over the run's time"),
    "cpu_us_per_event": Figure(
        "µs", "CPU time of the benchmark process per event: publish, write, read, decode, dedup, handle, ack"
    ),
    "redis_cpu_us_per_event": Figure("µs", "CPU time of redis-server per event"),
}

GROUP = "bench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=60_000, help="events per repetition (default 60000)")
    parser.add_argument("--repetitions", type=int, default=5, help="measured repetitions (default 5)")
    parser.add_argument("--calls", type=int, default=100, help="calls publishing concurrently (default 100)")
    parser.add_argument(
        "--burst", type=int, default=100, help="publishes between yields to the loop (default 100)"
    )
    parser.add_argument("--warmup", type=int, default=5_000, help="events of the unmeasured warm-up run")
    defaults = BusConfig()
    parser.add_argument(
        "--consume-batch",
        type=int,
        default=defaults.consume_batch,
        help="[bus] consume_batch: entries per XREADGROUP (default: runtime.toml's)",
    )
    parser.add_argument(
        "--outbox-batch",
        type=int,
        default=defaults.outbox.batch_size,
        help="[bus.outbox] batch_size: XADDs per pipeline (default: runtime.toml's)",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="longest wait for one repetition, seconds"
    )


# -- the call side: realistic events, stamped per call ------------------------------------------


def _turn_script(turn: int) -> list[tuple[type[Event], dict[str, Any]]]:
    """The events one caller turn produces: two partial transcripts, the final one, the answer."""
    words = "I would like to change the delivery address of my order to the office please".split()
    latency = TurnLatency(
        end_of_turn_ms=180.0 + turn % 40,
        stt_ms=95.5 + turn % 17,
        model_first_token_ms=310.0 + turn % 90,
        tts_first_audio_ms=120.0 + turn % 25,
        total_ms=705.5 + turn % 170,
    )
    return [
        (TranscriptionReceived, {"text": " ".join(words[:5]), "is_final": False, "confidence": 0.71}),
        (TranscriptionReceived, {"text": " ".join(words[:10]), "is_final": False, "confidence": 0.83}),
        (
            TranscriptionReceived,
            {
                "text": " ".join(words),
                "is_final": True,
                "confidence": 0.94,
                "language": "en-US",
                "start_ms": 1000.0 * turn,
                "end_ms": 1000.0 * turn + 3400.0,
            },
        ),
        (
            AgentResponseGenerated,
            {
                "agent": "concierge",
                "turn": turn,
                "latency": latency,
                "text": "Of course. Which office address should the order go to instead?",
            },
        ),
    ]


SCRIPT = [step for turn in range(1, 9) for step in _turn_script(turn)]


class TimedPublish:
    """Stands in for the outbox in each ``CallEmitter`` and times the real ``publish()`` call."""

    def __init__(self, outbox: Outbox) -> None:
        self._publish = outbox.publish
        self.samples_ns: list[int] = []

    def publish(self, event: Event) -> None:
        clock = time.perf_counter_ns
        start = clock()
        self._publish(event)
        self.samples_ns.append(clock() - start)


async def publish_calls(outbox: Outbox, prefix: str, events: int, calls: int, burst: int) -> list[int]:
    """Publish ``events`` events round-robin over ``calls`` calls; the publish() times in ns."""
    timer = TimedPublish(outbox)
    emitters = [CallEmitter(f"{prefix}-{i:04d}", timer) for i in range(calls)]  # type: ignore[arg-type]
    sent = 0
    step = 0
    while sent < events:
        event_type, fields = SCRIPT[step % len(SCRIPT)]
        step += 1
        for emitter in emitters[: events - sent]:
            emitter.emit(event_type, **fields)
            sent += 1
            if sent % burst == 0:
                await asyncio.sleep(0)
    return timer.samples_ns


# -- the subscriber side ------------------------------------------------------------------------


@dataclass
class Sink:
    """The subscription's handler: records every event id it is given, signals at the target."""

    target: int = 0
    seen: set[str] = field(default_factory=set)
    duplicates: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    done_ns: int = 0

    def expect(self, target: int) -> None:
        self.target, self.seen, self.done_ns = target, set(), 0
        self.done = asyncio.Event()

    async def handle(self, events: list[Event]) -> None:
        before = len(self.seen)
        self.seen.update(e.event_id for e in events)
        self.duplicates += before + len(events) - len(self.seen)
        if len(self.seen) >= self.target and not self.done.is_set():
            self.done_ns = time.perf_counter_ns()
            self.done.set()


@dataclass
class Rep:
    events: int
    elapsed_s: float
    written_s: float
    consumed: int
    publish_ns: list[int]
    cpu_python_s: float
    cpu_redis_s: float

    @property
    def per_s(self) -> float:
        return self.events / self.elapsed_s


@dataclass
class Bus:
    """The pieces of a worker's bus, wired as ``Runtime`` wires them, on one embedded Redis."""

    server: EmbeddedRedis
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    sink: Sink = field(default_factory=Sink)
    config: BusConfig = field(default_factory=BusConfig)

    def __post_init__(self) -> None:
        cfg = self.config
        self.redis = async_client(self.server.url)
        self.catalogue = EventCatalogue()
        self.outbox = Outbox(
            self.redis, self.catalogue, stream=cfg.stream,
            spill_path=self.server.data_dir / cfg.outbox.spill_file, maxlen=cfg.stream_maxlen,
            max_queue=cfg.outbox.max_queue, batch_size=cfg.outbox.batch_size,
            retry_max_s=cfg.outbox.retry_max_s, registry=self.registry,
        )  # fmt: skip
        self.consumers = BusConsumers(
            url=self.server.url, password=None, stream=cfg.stream, consumer="bench-worker",
            catalogue=self.catalogue, redis=self.redis, batch=cfg.consume_batch,
            claim_idle_ms=cfg.claim_idle_ms, dedup_window_s=cfg.dedup_window_s, registry=self.registry,
        )  # fmt: skip
        self.consumers.add(Subscription(group=GROUP, handler=self.sink.handle, start_at="new"))

    async def start(self) -> None:
        await self.redis.ping()
        await self.outbox.start()
        await self.consumers.start()

    async def stop(self) -> None:
        await self.consumers.stop()
        await self.outbox.close()
        await self.redis.aclose()

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def redis_cpu_s(self) -> float:
        """CPU seconds the redis-server process has used so far (0 if it cannot be read)."""
        try:
            times = psutil.Process(int(self.server.pidfile.read_text())).cpu_times()
        except (OSError, ValueError, psutil.Error):
            return 0.0
        return float(times.user + times.system)

    async def one_run(self, name: str, args: argparse.Namespace, events: int) -> Rep:
        self.sink.expect(events)
        cpu, redis_cpu = time.process_time(), self.redis_cpu_s()
        start = time.perf_counter_ns()
        samples = await publish_calls(self.outbox, name, events, args.calls, args.burst)
        await self.outbox.flush(timeout=args.timeout)
        written = time.perf_counter_ns()
        try:
            await asyncio.wait_for(self.sink.done.wait(), timeout=args.timeout)
        except TimeoutError:
            raise TimeoutError(
                f"{name}: the subscriber handled {len(self.sink.seen)} of {events} events in {args.timeout} s"
            ) from None
        end = self.sink.done_ns
        cpu, redis_cpu = time.process_time() - cpu, self.redis_cpu_s() - redis_cpu
        await asyncio.sleep(0.05)  # let the last batch's XACK land, then drop the entries
        await self.redis.xtrim(self.config.stream, maxlen=0)
        elapsed = (end - start) / 1e9
        return Rep(events, elapsed, (written - start) / 1e9, len(self.sink.seen), samples, cpu, redis_cpu)


async def measure(data_dir: Path, args: argparse.Namespace) -> tuple[list[Rep], Bus]:
    server = EmbeddedRedis(data_dir)
    await asyncio.get_running_loop().run_in_executor(None, server.start)
    config = BusConfig(consume_batch=args.consume_batch, outbox=OutboxConfig(batch_size=args.outbox_batch))
    bus = Bus(server, config=config)
    try:
        await bus.start()
        if args.warmup:
            await bus.one_run("warmup", args, args.warmup)
        reps = [await bus.one_run(f"rep{i}", args, args.events) for i in range(args.repetitions)]
        await bus.stop()
    finally:
        await asyncio.get_running_loop().run_in_executor(None, server.stop)
    return reps, bus


def figures(reps: list[Rep], bus: Bus, args: argparse.Namespace) -> dict[str, float]:
    rates = [r.per_s for r in reps]
    p50 = [percentile(r.publish_ns, 50) / 1000 for r in reps]
    p99 = [percentile(r.publish_ns, 99) / 1000 for r in reps]
    consumed = sum(r.consumed for r in reps)
    return {
        "events_per_s": round(statistics.median(rates), 1),
        "publish_p99_us": round(statistics.median(p99), 2),
        "publish_p50_us": round(statistics.median(p50), 2),
        "publish_max_us": round(max(max(r.publish_ns) for r in reps) / 1000, 1),
        "events_per_s_min": round(min(rates), 1),
        "events_per_s_max": round(max(rates), 1),
        "stream_write_per_s": round(statistics.median(r.events / r.written_s for r in reps), 1),
        "events": args.events,
        "consumed": consumed,
        "duplicates": bus.sink.duplicates,
        "duplicates_dropped": int(bus.metric("artagent_bus_duplicates_dropped_total", group=GROUP)),
        "lost": args.events * len(reps) - consumed,
        "spilled": int(bus.metric("artagent_outbox_spilled_total")),
        "repetitions": len(reps),
        "duration_s": round(statistics.median(r.elapsed_s for r in reps), 3),
        "calls": args.calls,
        "cpu_python_pct": round(statistics.median(100 * r.cpu_python_s / r.elapsed_s for r in reps), 1),
        "cpu_redis_pct": round(statistics.median(100 * r.cpu_redis_s / r.elapsed_s for r in reps), 1),
        "cpu_us_per_event": round(statistics.median(1e6 * r.cpu_python_s / r.events for r in reps), 1),
        "redis_cpu_us_per_event": round(statistics.median(1e6 * r.cpu_redis_s / r.events for r in reps), 1),
    }


def run(args: argparse.Namespace) -> dict[str, float]:
    """Start a private Redis in a short temporary folder, measure, clean up, return the figures."""
    if args.events < 1 or args.repetitions < 1:
        raise ValueError("--events and --repetitions must be at least 1")
    data_dir = Path(tempfile.mkdtemp(prefix="aa-bench-", dir="/tmp"))
    try:
        reps, bus = asyncio.run(measure(data_dir, args))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return figures(reps, bus, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_arguments(parser)
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
