"""Browser channel: what the conversation WebSocket adds between a page and the session.

The server runs in a child process (every installed plugin, the insurance scenario on the
offline flows engine, fake speech: an energy VAD, a scripted recogniser, a tone voice) and
``--calls`` page-like clients talk to it at once over loopback WebSockets, each sending 20 ms
caller frames at real time for the whole call. Each client speaks over the greeting (the
barge-in: time from its first loud frame to the ``stop`` message, which includes the 60 ms of
speech ``[session.barge_in] min_speech_ms`` asks for), then types ``--turns`` questions, each
once the previous answer is over (time from the typed turn to the answer's first audio frame).
Gaps between consecutive agent audio frames within a reply show the pacing as the page
receives it (the page's jitter buffer holds 40 ms, the server sends 60 ms ahead). The server's
CPU is divided by the seconds of conversation carried.

Run alone: .venv/bin/python scripts/bench.py browser
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from _benchlib import Figure, percentile

ROOT = Path(__file__).resolve().parents[1]
VERIFY = "John Smith, 98052"
QUESTIONS = ("what's my deductible", "do I have roadside assistance", "am I covered for a rental")
FRAME = 0.02
SILENCE = bytes(640)

TITLE = "Browser channel: barge-in stop, typed-turn answer and audio pacing over WebSocket"
ABOUT = __doc__.split("\n\n", 1)[1].split("\n\nRun alone", 1)[0]
FIGURES = {
    "stop_after_speech_p50_ms": Figure("ms", "Median time from the caller's first loud frame to stop"),
    "stop_after_speech_p95_ms": Figure("ms", "95th percentile of that time", "< 150"),
    "typed_first_audio_p50_ms": Figure("ms", "Median time from a typed turn to its answer's first audio"),
    "typed_first_audio_p95_ms": Figure("ms", "95th percentile of that time", "< 250"),
    "frame_gap_p99_ms": Figure("ms", "99th percentile of gaps between agent audio frames in a reply", "< 60"),
    "frame_gap_max_ms": Figure("ms", "Longest gap between agent audio frames in a reply"),
    "server_cpu_ms_per_call_s": Figure("ms/s", "Server CPU per second of conversation carried"),
    "calls": Figure("calls", "Conversations at once"),
    "turns": Figure("turns", "Typed turns measured, all calls"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=8, help="concurrent conversations (default 8)")
    parser.add_argument("--turns", type=int, default=3, help="typed turns per conversation (default 3)")


@dataclass
class _Page:
    """One client: sends silence at real time, records what arrives and when."""

    ws: object
    stops: list[float] = field(default_factory=list)
    audio: list[float] = field(default_factory=list)
    answers: list[float] = field(default_factory=list)
    """Arrival times of agent_response_generated."""
    loud: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self) -> None:
        async for message in self.ws:  # type: ignore[attr-defined]
            now = time.monotonic()
            if isinstance(message, bytes):
                self.audio.append(now)
                continue
            data = json.loads(message)
            if data["type"] == "ready":
                self.ready.set()
            elif data["type"] == "stop":
                self.stops.append(now)
            elif data["type"] == "event" and data["event"]["type"] == "agent_response_generated":
                self.answers.append(now)

    async def microphone(self) -> None:
        from artagent.testing.audio import tone

        speech = tone(320, 300.0, 0.3, 16_000)
        start = time.monotonic()
        for i in range(10**9):
            await self.ws.send(speech if self.loud else SILENCE)  # type: ignore[attr-defined]
            await asyncio.sleep(max(0.0, start + (i + 1) * FRAME - time.monotonic()))


async def _until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - some conditions are time-based (200 ms of quiet)
            await asyncio.sleep(0.005)


async def _quiet(page: _Page, answers: int) -> None:
    """The agent has given ``answers`` replies and its audio has stopped coming."""
    await _until(lambda: len(page.answers) >= answers and time.monotonic() - page.audio[-1] > 0.2)


async def _conversation(url: str, turns: int, stop_ms: list[float], first_ms: list[float]) -> list[float]:
    import httpx
    from websockets.asyncio.client import connect

    async with httpx.AsyncClient(base_url=url) as http:
        token = (await http.post("/api/v1/browser/sessions", json={})).json()["token"]
    ws_url = url.replace("http://", "ws://") + f"/api/v1/browser/conversation?token={token}"
    async with connect(ws_url) as ws:
        page = _Page(ws)
        reader, mic = asyncio.create_task(page.read()), asyncio.create_task(page.microphone())
        await page.ready.wait()
        await _until(lambda: len(page.audio) >= 10)  # the greeting plays
        page.loud, spoke = True, time.monotonic()
        await _until(lambda: bool(page.stops))
        stop_ms.append((page.stops[0] - spoke) * 1000)
        await asyncio.sleep(0.3)
        page.loud = False  # the recogniser hears the verification: the agent answers
        await _quiet(page, 2)
        for turn in range(turns):
            heard = len(page.audio)
            sent = time.monotonic()
            await ws.send(json.dumps({"type": "text", "text": QUESTIONS[turn % len(QUESTIONS)]}))
            await _until(lambda heard=heard: len(page.audio) > heard)
            first_ms.append((page.audio[heard] - sent) * 1000)
            await _quiet(page, 3 + turn)
        mic.cancel()
        await ws.send(json.dumps({"type": "hangup"}))
        await asyncio.gather(reader, return_exceptions=True)
    gaps = [(b - a) * 1000 for a, b in zip(page.audio, page.audio[1:], strict=False)]
    return [gap for gap in gaps if gap < 200]  # longer ones are between replies


async def _measure(url: str, args: argparse.Namespace) -> tuple[list[float], list[float], list[float]]:
    stop_ms: list[float] = []
    first_ms: list[float] = []
    runs = [_conversation(url, args.turns, stop_ms, first_ms) for _ in range(args.calls)]
    gaps = [gap for call in await asyncio.gather(*runs) for gap in call]
    return stop_ms, first_ms, gaps


def run(args: argparse.Namespace) -> dict[str, float]:
    if args.calls < 1 or args.turns < 1:
        raise ValueError("--calls and --turns must be at least 1")
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "_browser_server.py"), VERIFY],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None and server.stdin is not None
        url = server.stdout.readline().strip()
        process = psutil.Process(server.pid)
        cpu_before, started = process.cpu_times(), time.monotonic()
        stop_ms, first_ms, gaps = asyncio.run(_measure(url, args))
        cpu_after, elapsed = process.cpu_times(), time.monotonic() - started
        server.stdin.close()
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    cpu_s = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    return {
        "stop_after_speech_p50_ms": round(percentile(stop_ms, 50), 1),
        "stop_after_speech_p95_ms": round(percentile(stop_ms, 95), 1),
        "typed_first_audio_p50_ms": round(percentile(first_ms, 50), 1),
        "typed_first_audio_p95_ms": round(percentile(first_ms, 95), 1),
        "frame_gap_p99_ms": round(percentile(gaps, 99), 1),
        "frame_gap_max_ms": round(max(gaps), 1),
        "server_cpu_ms_per_call_s": round(cpu_s * 1000 / (elapsed * args.calls), 2),
        "calls": args.calls,
        "turns": len(first_ms),
    }
