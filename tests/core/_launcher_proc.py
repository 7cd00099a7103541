"""A worker driving one call through the SessionLauncher, for test_session_launcher.py.

Usage: python _launcher_proc.py REDIS_URL CALL_ID WORKER LEASE_S

Runs the call with fake providers: the caller waits for the greeting, says one thing, and then
stays silent for as long as the process lives. Every event is printed to stdout as one JSON
line as it is published; the test kills the process (SIGKILL) mid-call, as a crash would.
"""

from __future__ import annotations

import asyncio
import sys

import msgspec
from _launcher_kit import EventLog, Fakes, one_turn, session_config, silent_until, stay_silent
from artagent.calls import ActiveCalls
from artagent.events import Event
from artagent.session.launcher import SessionLauncher
from artagent.testing import FakeChannel
from redis.asyncio import Redis

UTTERANCE = "Where is my order?"
ANSWER = "It ships tomorrow."


class PrintingLog(EventLog):
    def publish(self, event: Event) -> None:
        super().publish(event)
        sys.stdout.write(msgspec.json.encode(event).decode() + "\n")
        sys.stdout.flush()


async def main(url: str, call_id: str, worker: str, lease_s: float) -> None:
    redis = Redis.from_url(url)
    fakes = Fakes(utterances=[UTTERANCE], responses=[ANSWER])
    log = PrintingLog()
    launcher = SessionLauncher(
        session_config(lease_s=lease_s), fakes.registry(), publisher=log, redis=redis,
        calls=ActiveCalls(), worker=worker,
    )  # fmt: skip
    channel = FakeChannel(fakes.clock)
    call = asyncio.create_task(launcher.run(call_id, channel, channel_name="test"))
    await silent_until(channel, lambda: len(log.replies()) == 1)
    await one_turn(channel, log, call_id)
    await stay_silent(channel)
    await call


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
