"""A bus subscriber in a process of its own, for test_second_process.py.

Usage: python _consumer_proc.py DATA_DIR GROUP OUT_FILE EXPECTED TIMEOUT_S [OTLP_ENDPOINT]

Joins the embedded Redis of DATA_DIR as a guest, consumes with its own consumer group, writes
every event it is handed to OUT_FILE as one JSON line, prints ``ready`` once its group exists,
and exits 0 once EXPECTED events arrived (1 if TIMEOUT_S passed first). With OTLP_ENDPOINT,
its subscriber traces what it handles (``[observability] otlp_endpoint``) and exports the spans
there before exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

from artagent.bus.redis import async_client, redis_url
from artagent.bus.subscribers import BusConsumers, Subscription
from artagent.config import parse_config
from artagent.events import Event, EventCatalogue
from artagent.observability.export import tracing_from_config
from prometheus_client import CollectorRegistry


async def main(data_dir: Path, group: str, out: Path, expected: int, limit_s: float, otlp: str) -> int:
    text = f'[runtime]\ndata_dir = "{data_dir}"\n[observability]\notlp_endpoint = "{otlp}"\n'
    loaded = parse_config(text, base_dir=data_dir, environ={})
    tracing = tracing_from_config(loaded, worker=f"child-{os.getpid()}")
    url = redis_url(loaded)
    catalogue = EventCatalogue()
    redis = async_client(url)
    received = 0
    complete = asyncio.Event()

    with out.open("ab") as sink:

        async def handle(events: list[Event]) -> None:
            nonlocal received
            sink.write(b"".join(catalogue.encode(e) + b"\n" for e in events))
            sink.flush()
            received += len(events)
            if received >= expected:
                complete.set()

        bus = BusConsumers(
            url=url, password=None, stream=loaded.config.bus.stream, consumer=f"child-{os.getpid()}",
            catalogue=catalogue, redis=redis, registry=CollectorRegistry(), tracing=tracing,
        )  # fmt: skip
        bus.add(Subscription(group=group, handler=handle, start_at="new"))
        await bus.start()
        print("ready", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(complete.wait(), limit_s)
        await bus.stop()
    await redis.aclose()
    tracing.shutdown()  # the spans not exported yet go now
    return 0 if received >= expected else 1


if __name__ == "__main__":
    data, grp, out_file, count, limit = sys.argv[1:6]
    endpoint = sys.argv[6] if len(sys.argv) > 6 else ""
    sys.exit(asyncio.run(main(Path(data), grp, Path(out_file), int(count), float(limit), endpoint)))
