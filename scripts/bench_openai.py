"""Benchmark `openai`: what the OpenAI router adds between a model server and the session.

The real ``OpenAIRouter`` (the real ``openai`` client, httpx, server-sent events, chunk
reassembly) streams from the repository's fake OpenAI server, which runs in a child process so
that its work is not counted here: it answers every request at once, with no pause between
chunks, so the figures are the router's and the loopback's, not a model's. First, one call
after another: the time from ``stream()`` to the first text delta (a warm connection, as in a
call's second turn). Then many calls at once, each streaming a long reply: chunks per second
through the router, and the CPU time this process spends per chunk. A voice worker serving 100
calls whose model writes 50 tokens a second needs 5,000 chunks a second, so one chunk must cost
well under 200 µs of a core.

Run alone (prints the figures, writes nothing): ``.venv/bin/python scripts/bench_openai.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _benchlib import Figure, percentile
from artagent.providers import ModelRequest, TextDelta
from artagent.session.state import Message
from artagent_openai.config import RouterConfig
from artagent_openai.router import OpenAIRouter

TESTS = Path(__file__).resolve().parents[1] / "tests"
TITLE = "OpenAI router: first-token overhead and streaming cost"
ABOUT = __doc__.split("\n\n", 1)[1].split("\n\nRun alone", 1)[0]
FIGURES = {
    "first_token_p50_ms": Figure(
        "ms", "Median time from stream() to the first text delta, one call at a time"
    ),
    "first_token_p99_ms": Figure(
        "ms", "99th percentile of the same; includes the loopback round trip and the fake server", "< 20"
    ),
    "chunks_per_s": Figure(
        "chunks/s", "Chunks turned into text deltas per second, all calls at once", ">= 5000"
    ),
    "cpu_us_per_chunk": Figure(
        "µs", "CPU time of this process (client, parsing, reassembly) per chunk, all calls at once", "< 200"
    ),
    "calls": Figure("calls", "Concurrent calls streaming in the second part"),
    "chunks_per_reply": Figure("chunks", "Text chunks in each reply of the second part"),
    "sequential_replies": Figure("replies", "Replies timed in the first part"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--replies", type=int, default=300, help="replies timed one after another")
    parser.add_argument("--calls", type=int, default=50, help="concurrent calls in the second part")
    parser.add_argument("--chunks", type=int, default=200, help="text chunks per reply in the second part")


def serve(conn: Connection) -> None:
    """The child process: a fake OpenAI server whose replies take the length the request asks."""
    sys.path.insert(0, str(TESTS))
    from fakes.openai_script import Reply
    from fakes.openai_server import FakeOpenAIServer, RecordedRequest

    def reply(request: RecordedRequest) -> Reply:
        pieces = int(request.messages[-1]["content"])
        return Reply(text=[" word"] * pieces)

    with FakeOpenAIServer() as server:
        server.respond_with(reply)
        conn.send(server.base_url)
        conn.recv()  # until the parent says stop


def request(chunks: int) -> ModelRequest:
    return ModelRequest(
        messages=[Message(role="system", content="bench"), Message(role="user", content=str(chunks))]
    )


async def first_tokens(router: OpenAIRouter, replies: int) -> list[float]:
    times = []
    for _ in range(replies):
        started = time.perf_counter()
        stream = router.stream(request(5))
        async for item in stream:
            if isinstance(item, TextDelta):
                times.append((time.perf_counter() - started) * 1000)
                break
        await stream.aclose()  # type: ignore[attr-defined]
    return times


async def one_call(router: OpenAIRouter, chunks: int) -> int:
    return sum([1 async for item in router.stream(request(chunks)) if isinstance(item, TextDelta)])


async def measure(base_url: str, args: argparse.Namespace) -> dict[str, float]:
    config = RouterConfig(
        kind="compatible", base_url=base_url, model="bench", timeout_s=120, first_token_timeout_s=60
    )
    router = OpenAIRouter("bench", config)
    try:
        await first_tokens(router, 20)  # warm-up: connections, imports
        latencies = await first_tokens(router, args.replies)
        await asyncio.gather(*(one_call(router, 10) for _ in range(args.calls)))  # warm the pool
        cpu, wall = time.process_time(), time.perf_counter()
        counts = await asyncio.gather(*(one_call(router, args.chunks) for _ in range(args.calls)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await router.aclose()
    chunks = sum(counts)
    if chunks != args.calls * args.chunks:
        raise RuntimeError(f"expected {args.calls * args.chunks} text chunks, got {chunks}")
    return {
        "first_token_p50_ms": round(percentile(latencies, 50), 2),
        "first_token_p99_ms": round(percentile(latencies, 99), 2),
        "chunks_per_s": round(chunks / wall),
        "cpu_us_per_chunk": round(cpu / chunks * 1e6, 1),
        "calls": args.calls,
        "chunks_per_reply": args.chunks,
        "sequential_replies": args.replies,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(target=serve, args=(child,), daemon=True)
    server.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("the fake OpenAI server did not start")
        return asyncio.run(measure(parent.recv(), args))
    finally:
        parent.send("stop")
        server.join(15)
        if server.is_alive():
            server.terminate()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=TITLE)
    add_arguments(parser)
    for name, value in run(parser.parse_args()).items():
        print(f"{name}: {value} {FIGURES[name].unit}")
