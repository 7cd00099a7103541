"""A subscriber in another process sees every event a runtime publishes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from _bus import assert_per_call_order
from artagent.config import LoadedConfig
from artagent.events import CallEnded, CallStarted, Event, TranscriptionReceived
from artagent.runtime import Runtime

CHILD = Path(__file__).with_name("_consumer_proc.py")
CALLS, PER_CALL = 5, 40


async def test_a_subscriber_in_a_second_process_receives_every_event(
    data_dir: Path, make_config: Callable[..., LoadedConfig]
) -> None:
    loaded = make_config(f'[runtime]\ndata_dir = "{data_dir}"\ndisable_plugins = ["analytics"]\n')
    runtime = Runtime(loaded)
    await runtime.start()
    out = data_dir / "child-events.jsonl"
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), str(data_dir), "second-process", str(out), str(CALLS * PER_CALL), "30",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        ready = await asyncio.wait_for(child.stdout.readline(), timeout=30)
        assert ready.strip() == b"ready", (ready, await child.stderr.read() if child.stderr else b"")

        published: list[Event] = []
        for n in range(CALLS):
            call = runtime.outbox.for_call(f"call-{n}")
            published.append(call.emit(CallStarted, channel="browser"))
            published += [
                call.emit(TranscriptionReceived, text=f"utterance {i}") for i in range(PER_CALL - 2)
            ]
            published.append(call.emit(CallEnded, reason="hangup", outcome="resolved"))
        assert await runtime.outbox.flush(timeout=10)

        _, stderr = await asyncio.wait_for(child.communicate(), timeout=40)
        assert child.returncode == 0, stderr.decode()[-2000:]
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await runtime.stop()

    received = [runtime.catalogue.decode(line) for line in out.read_bytes().splitlines()]
    assert len(received) == len(published)
    assert {e.event_id for e in received} == {e.event_id for e in published}
    assert sorted(received, key=lambda e: (e.call_id, e.seq)) == sorted(
        published, key=lambda e: (e.call_id, e.seq)
    )
    assert_per_call_order(received)
