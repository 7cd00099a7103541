"""Azure Speech plugin: what the plugin and the Speech SDK add between the service and a call.

The real Speech SDK talks to the local fake Speech service of the tests over loopback
WebSockets, so the figures are the plugin's and the SDK's own cost, not Azure's: the delay from
the service sending a final result to the call's ``results()`` yielding it (SDK parsing, its
native thread, the hand-over to the event loop), the time from ``synthesize()`` to its first
audio chunk on a warm synthesizer (its connection already open), and the rate at which the
thread-to-loop bridge carries values. ``--calls`` recognisers run at once, each fed 20 ms frames in real time.

Run alone: .venv/bin/python scripts/bench.py azure_speech
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _benchlib import Figure, percentile

ROOT = Path(__file__).resolve().parents[1]
FAKE = ROOT / "tests" / "plugins" / "azure_speech"

TITLE = "Azure Speech plugin: SDK and bridge overhead on loopback"
ABOUT = __doc__.split("\n\n", 1)[1].split("\n\nRun alone", 1)[0]
FIGURES = {
    "final_delay_p50_ms": Figure(
        "ms", "Median delay from the service sending a final to results() yielding it"
    ),
    "final_delay_p95_ms": Figure("ms", "95th percentile of that delay", "< 100"),
    "finals": Figure("results", "Final results measured, all calls"),
    "tts_first_audio_p50_ms": Figure("ms", "Median time from synthesize() to its first audio chunk (warm)"),
    "tts_first_audio_p95_ms": Figure("ms", "95th percentile of that time", "< 50"),
    "syntheses": Figure("syntheses", "Syntheses measured"),
    "bridge_items_per_s": Figure(
        "items/s", "Values one SDK-side thread hands to the loop through LoopBridge"
    ),
    "calls": Figure("calls", "Recognisers running at once"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=8, help="concurrent recognisers (default 8)")
    parser.add_argument("--utterances", type=int, default=6, help="utterances per call (default 6)")
    parser.add_argument("--syntheses", type=int, default=60, help="syntheses measured (default 60)")


async def _call(stt, utterances: int, arrived: list[float]) -> None:  # type: ignore[no-untyped-def]
    from _audio import silence, voiced

    stream = await stt.open(sample_rate=16000)

    async def read() -> None:
        async for transcript in stream.results():
            if transcript.is_final and transcript.text:
                arrived.append(time.monotonic())

    reader = asyncio.create_task(read())
    frames = (voiced(400) + silence(500)) * utterances + silence(500)
    start = time.monotonic()
    for i, frame in enumerate(frames):
        await stream.push(frame)
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - time.monotonic()))
    await stream.close()
    await reader


async def _recognition(args: argparse.Namespace, executor: ThreadPoolExecutor) -> list[float]:
    from artagent_azure_speech.config import AzureSpeechConfig
    from artagent_azure_speech.credentials import Credentials
    from artagent_azure_speech.stt import AzureSTT
    from fake_speech_service import FakeSpeechService

    async with FakeSpeechService(phrases=["Hello there."] * (args.calls * args.utterances)) as service:
        cfg = AzureSpeechConfig(host=service.host, key_env="K", segmentation_silence_ms=300)
        stt = AzureSTT(cfg, Credentials(key="test-key"), executor)
        arrived: list[list[float]] = [[] for _ in range(args.calls)]
        await asyncio.gather(*(_call(stt, args.utterances, arrived[i]) for i in range(args.calls)))
        sent = sorted(service.finals_sent)
    got = sorted(t for call in arrived for t in call)
    return [(g - s) * 1000 for s, g in zip(sent, got, strict=False)]


async def _synthesis(args: argparse.Namespace, executor: ThreadPoolExecutor) -> list[float]:
    from artagent_azure_speech.config import AzureSpeechConfig
    from artagent_azure_speech.credentials import Credentials
    from artagent_azure_speech.tts import AzureTTS
    from fake_speech_service import FakeSpeechService

    async with FakeSpeechService(chunk_delay_s=0.0) as service:
        cfg = AzureSpeechConfig(host=service.host, key_env="K", synthesizers=1)
        tts = AzureTTS(cfg, Credentials(key="test-key"), executor)
        times: list[float] = []
        for i in range(args.syntheses + 1):
            start, first = time.monotonic(), None
            async for _ in tts.synthesize(f"Sentence number {i} of the benchmark."):
                first = first or time.monotonic()
            if i and first is not None:  # the first one opens the connection: not measured
                times.append((first - start) * 1000)
    return times


async def _bridge(items: int = 200_000) -> float:
    from artagent_azure_speech.bridge import LoopBridge

    bridge: LoopBridge[int] = LoopBridge(asyncio.get_running_loop())

    def produce() -> None:
        for i in range(items):
            bridge.put(i)
        bridge.close()

    start = time.monotonic()
    threading.Thread(target=produce, daemon=True).start()
    count = 0
    while await bridge.get() is not None:
        count += 1
    return count / (time.monotonic() - start)


def run(args: argparse.Namespace) -> dict[str, float]:
    if args.calls < 1 or args.utterances < 1 or args.syntheses < 1:
        raise ValueError("--calls, --utterances and --syntheses must be at least 1")
    sys.path.insert(0, str(FAKE))  # the fake service and the test audio live with the tests
    with ThreadPoolExecutor(8, thread_name_prefix="azure-speech") as executor:
        delays = asyncio.run(_recognition(args, executor))
        first_audio = asyncio.run(_synthesis(args, executor))
    rate = asyncio.run(_bridge())
    return {
        "final_delay_p50_ms": round(percentile(delays, 50), 2),
        "final_delay_p95_ms": round(percentile(delays, 95), 2),
        "finals": len(delays),
        "tts_first_audio_p50_ms": round(percentile(first_audio, 50), 2),
        "tts_first_audio_p95_ms": round(percentile(first_audio, 95), 2),
        "syntheses": len(first_audio),
        "bridge_items_per_s": round(rate),
        "calls": args.calls,
    }
