"""Benchmark `voicelive`: what the realtime mode adds between the caller and the realtime service.

The plugin's real session (its WebSocket client, soxr resampling both ways, event decoding,
core's paced playout) talks to the fake realtime service of the tests, run in a child process
so that its work is not counted here. The run measures both rates the caller's audio can be
sent at, one after the other against the same service: 24 kHz (resampled from the call's
16 kHz; every service) and 16 kHz (as it comes; Voice Live only). Each figure that depends on
the rate is reported twice, suffixed `_24k` and `_16k`. ``--calls`` calls run at once; in each
the caller speaks ``--turns`` times (a 20 ms frame every 20 ms, real time) and waits for the
answer. For every turn: the latency the call reports (caller speech end to the first agent
frame sent, as ``agent_response_generated.latency.total_ms``), and the mode's own share of it:
that total minus the service's VAD silence (``--silence-ms``) and minus the service's own time
from its ``speech_stopped`` to its first audio delta (as the fake measured it, ``--service-ms``
configured). The share splits into inbound (caller audio to the service and its end-of-speech
back: resampling, the socket, and up to one 20 ms frame of the fake VAD's granularity) and
outbound (the first audio delta to the first frame on the channel: decoding, resampling, the
playout). The pipeline's latency is another budget: its VAD hangover (``[session.speech]
stop_ms``), the turn detector's silence (``[session.turn] min_delay_s``) and the STT, model and
TTS providers' first results, measured by their own benchmarks.

Run alone: .venv/bin/python scripts/bench.py voicelive
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

FAKE = Path(__file__).resolve().parents[1] / "tests" / "plugins" / "voicelive"
TITLE = "Voice Live mode: the runtime's share of speech end to first audio"
ABOUT = __doc__.split("\n\n", 1)[1].split("\n\nRun alone", 1)[0]
RATES = {"24k": 24000, "16k": 16000}
"""Suffix of a rate's figures -> the rate caller audio is sent to the service at."""
_PER_RATE = {
    "overhead_p50_ms": Figure(
        "ms", "Median of the mode's own share of a turn's latency (inbound + outbound)"
    ),
    "overhead_p95_ms": Figure("ms", "95th percentile of that share", "< 60"),
    "inbound_p50_ms": Figure(
        "ms", "Median time caller audio takes to the service and its end of speech back"
    ),
    "outbound_p50_ms": Figure(
        "ms", "Median time from the service's first audio delta to the first frame sent"
    ),
    "total_p50_ms": Figure("ms", "Median speech end to first frame, the service's silence and time included"),
    "total_p95_ms": Figure("ms", "95th percentile of the same"),
    "service_p50_ms": Figure("ms", "Median time the fake service took from speech_stopped to first audio"),
    "cpu_ms_per_call_s": Figure("ms", "CPU time of this process per second of one call (all calls at once)"),
}
_SENT_AT = {
    "24k": "caller audio sent at 24 kHz (resampled from 16 kHz; every service)",
    "16k": "caller audio sent at 16 kHz (as it comes; Voice Live only)",
}
FIGURES = {
    f"{name}_{suffix}": Figure(meta.unit, f"{meta.about}; {_SENT_AT[suffix]}", meta.goal)
    for suffix in RATES
    for name, meta in _PER_RATE.items()
} | {
    "turns": Figure("turns", "Turns measured at each rate, all calls"),
    "calls": Figure("calls", "Calls at once"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=8, help="calls at once (default 8)")
    parser.add_argument("--turns", type=int, default=8, help="caller turns per call and rate (default 8)")
    parser.add_argument("--silence-ms", type=int, default=200, help="the service VAD's silence (default 200)")
    parser.add_argument(
        "--service-ms", type=int, default=50, help="the service's first-audio delay (default 50)"
    )


def _serve(pipe: Connection, args: argparse.Namespace) -> None:
    """The child process: the fake service until told to stop, then what it measured."""
    sys.path.insert(0, str(FAKE))
    asyncio.run(_fake_service(pipe, args))


async def _fake_service(pipe: Connection, args: argparse.Namespace) -> None:
    from fake_realtime import FakeRealtime
    from realtime_script import echo_brain

    said = ["Hello there"] * (args.calls * args.turns * len(RATES))
    async with FakeRealtime(utterances=said, brain=echo_brain, first_audio_s=args.service_ms / 1000) as fake:
        pipe.send(fake.url)
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        pipe.send(
            {
                str(c.session.get("instructions", "")): (c.stops_sent, c.first_audio_sent)
                for c in fake.connections
            }
        )


class _Replies:
    """A publisher keeping the call's agent responses."""

    def __init__(self) -> None:
        self.replies: list[Any] = []

    def publish(self, event: Any) -> None:
        from artagent.events import AgentResponseGenerated

        if isinstance(event, AgentResponseGenerated):
            self.replies.append(event)


def _prompt(call_id: str) -> str:
    """The call's instructions: they name the call, so the service's times pair with its own."""
    return f"You answer briefly. This is call {call_id}."


async def _call(mode: Any, call_id: str, turns: int) -> list[Any]:
    """One call: the greeting, then ``turns`` caller turns; the latency of each answer."""
    from artagent.bus.outbox import CallEmitter
    from artagent.session.conversation import SingleAgent
    from artagent.session.engine import SessionSettings
    from artagent.session.modes import RealtimeCall
    from artagent.session.playout import LoopClock
    from artagent.session.state import SessionState
    from artagent.testing import FakeChannel

    clock, published = LoopClock(), _Replies()
    channel = FakeChannel(clock)
    settings = SessionSettings(channel="bench", idle_reprompt_s=600.0, idle_hangup_s=1200.0)
    agent = SingleAgent(None, system_prompt=_prompt(call_id), greeting="Hello, this is the bench.")
    call = RealtimeCall(
        channel=channel,
        emitter=CallEmitter(call_id, published),
        clock=clock,
        settings=settings,
        state=SessionState(call_id=call_id, channel="bench"),
        conversation=agent,
        on_state_changed=lambda: None,
    )
    running = asyncio.create_task(mode.open(call).run())
    for expected in range(1, turns + 2):
        while len(published.replies) < expected:
            await channel.silence(0.02)
        if expected <= turns:
            await channel.say(0.5)
    channel.leave()
    await running
    return [reply.latency for reply in published.replies[1:]]


async def _calls(url: str, args: argparse.Namespace, suffix: str) -> tuple[dict[str, list[Any]], float]:
    """All calls at one input rate: each call's answer latencies by call id, and the CPU figure."""
    from artagent_voicelive.config import TurnDetection, VoiceLiveConfig
    from artagent_voicelive.mode import VoiceLiveMode

    config = VoiceLiveConfig(
        endpoint=url,
        model="gpt-realtime",
        api_key_env="BENCH",
        input_sample_rate=RATES[suffix],
        turn_detection=TurnDetection(silence_duration_ms=args.silence_ms),
    )
    mode = VoiceLiveMode(config, "test-key")
    ids = [f"bench-{suffix}-{i}" for i in range(args.calls)]
    started, cpu = time.monotonic(), time.process_time()
    latencies = await asyncio.gather(*(_call(mode, call_id, args.turns) for call_id in ids))
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    return dict(zip(ids, latencies, strict=True)), cpu * 1000 / (elapsed * args.calls)


async def _both_rates(url: str, args: argparse.Namespace) -> dict[str, tuple[dict[str, list[Any]], float]]:
    return {suffix: await _calls(url, args, suffix) for suffix in RATES}


def run(args: argparse.Namespace) -> dict[str, float]:
    if args.calls < 1 or args.turns < 1:
        raise ValueError("--calls and --turns must be at least 1")
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(child, args), daemon=True)
    server.start()
    try:
        measured = asyncio.run(_both_rates(parent.recv(), args))
        parent.send("stop")
        service = parent.recv()
    finally:
        server.join(10)
        if server.is_alive():
            server.terminate()
    figures: dict[str, float] = {}
    for suffix, (latencies, cpu_ms) in measured.items():
        times = {call_id: service[_prompt(call_id)] for call_id in latencies}
        figures |= {f"{k}_{suffix}": v for k, v in _figures(args, latencies, times, cpu_ms).items()}
    return figures | {"turns": args.calls * args.turns, "calls": args.calls}


def _figures(
    args: argparse.Namespace,
    latencies: dict[str, list[Any]],
    service_times: dict[str, tuple[list[float], list[float]]],
    cpu_ms: float,
) -> dict[str, float]:
    """One rate's figures: each answer paired with the service's own time for it."""
    totals, inbound, outbound, service = [], [], [], []
    for call_id, call in latencies.items():
        stops, first_audio = service_times[call_id]
        for latency, stop, audio in zip(call, stops, first_audio[1:], strict=True):  # [0]: the greeting
            took = (audio - stop) * 1000
            totals.append(latency.total_ms)
            service.append(took)
            inbound.append(latency.end_of_turn_ms - args.silence_ms)
            outbound.append(latency.total_ms - latency.end_of_turn_ms - took)
    if len(totals) != args.calls * args.turns:
        raise RuntimeError(f"measured {len(totals)} turns, expected {args.calls * args.turns}")
    overhead = [i + o for i, o in zip(inbound, outbound, strict=True)]
    return {
        "overhead_p50_ms": round(percentile(overhead, 50), 1),
        "overhead_p95_ms": round(percentile(overhead, 95), 1),
        "inbound_p50_ms": round(percentile(inbound, 50), 1),
        "outbound_p50_ms": round(percentile(outbound, 50), 1),
        "total_p50_ms": round(percentile(totals, 50), 1),
        "total_p95_ms": round(percentile(totals, 95), 1),
        "service_p50_ms": round(percentile(service, 50), 1),
        "cpu_ms_per_call_s": round(cpu_ms, 2),
    }
