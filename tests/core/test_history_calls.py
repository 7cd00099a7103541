"""A whole call through the real session engine (test-kit fakes, real time), the real outbox to
the embedded Redis and the history subscriber; then ``GET /api/v1/calls/{call_id}`` over a real
uvicorn server answers with the full transcript: live from the session state while the call
goes on, from SQLite once it is over, also when Redis restarts in the middle of the call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from _launcher_kit import GREETING, EventLog, Fakes, one_turn, session_config, silent_until
from artagent.app import create_app
from artagent.config import LoadedConfig
from artagent.events import Event
from artagent.plugins import PluginHost
from artagent.runtime import Runtime
from artagent.session.launcher import SessionLauncher
from artagent.testing import FakeChannel
from test_app import serving

MakeConfig = Callable[..., LoadedConfig]
ASKS = ["I want to file a claim.", "A tree fell on my car.", "Thank you, bye."]
ANSWERS = ["Sure, what happened?", "I am sorry. I have filed claim 42.", "Goodbye."]


class Tee(EventLog):
    """The runtime's real outbox, recording what it was given so the caller knows when to speak."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.outbox = runtime.outbox

    def publish(self, event: Event) -> None:
        super().publish(event)
        self.outbox.publish(event)


async def fetch(client: httpx.AsyncClient, call_id: str) -> dict[str, Any] | None:
    response = await client.get(f"/api/v1/calls/{call_id}")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def turns(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(t["speaker"], t["text"]) for t in doc["transcript"]]


@pytest.mark.parametrize("restart_redis", [False, True], ids=["steady", "redis-restarted-mid-call"])
async def test_a_finished_call_is_served_from_the_history_with_its_whole_transcript(
    make_config: MakeConfig, restart_redis: bool
) -> None:
    loaded = make_config(
        '[runtime]\ndisable_plugins = ["analytics"]\nworker_name = "worker-h"\n'
        "[bus]\nclaim_idle_ms = 500\n[bus.outbox]\nretry_max_s = 0.05\n"
    )
    fakes = Fakes(ASKS, ANSWERS)
    runtime = Runtime(loaded, host=PluginHost(), load_entry_points=False)
    async with serving(create_app(runtime)) as client:
        log = Tee(runtime)
        sessions = SessionLauncher(
            session_config(), fakes.registry(), publisher=log, redis=runtime.redis, calls=runtime.calls,
            worker=runtime.worker,
        )  # fmt: skip
        channel = FakeChannel(fakes.clock)
        call = asyncio.create_task(sessions.run("call-h1", channel, channel_name="browser"))
        await silent_until(channel, lambda: len(log.replies()) == 1)
        await one_turn(channel, log, "call-h1")

        live = await _until(client, "call-h1", lambda d: d["live"] and len(d["transcript"]) == 3)
        assert turns(live) == [("agent", GREETING), ("caller", ASKS[0]), ("agent", ANSWERS[0])]
        assert live["status"] == "in_progress" and live["channel"] == "browser"

        if restart_redis:
            assert runtime.embedded is not None
            await asyncio.to_thread(runtime.embedded.stop)
            await one_turn(channel, log, "call-h1")  # the call goes on while Redis is away
            spilled = runtime.registry.get_sample_value("artagent_outbox_spilled_total") or 0
            assert spilled > 0, "the turn's events waited in the outbox's spill file"
            await asyncio.to_thread(runtime.embedded.start)
        else:
            await one_turn(channel, log, "call-h1")
        await one_turn(channel, log, "call-h1")
        channel.leave()
        await asyncio.wait_for(call, 10)

        done = await _until(client, "call-h1", lambda d: not d["live"] and d["status"] == "ended", within=30)
        expected = [("agent", GREETING)]
        for ask, answer in zip(ASKS, ANSWERS, strict=True):
            expected += [("caller", ask), ("agent", answer)]
        assert turns(done) == expected, "every turn once, in order"
        assert (done["end_reason"], done["turns"], done["agents"]) == ("caller_hangup", 3, ["assistant"])
        assert done["workers"] == ["worker-h"] and done["event_count"] == len(
            [e for e in log.events if e.type_tag() not in _SKIPPED and getattr(e, "is_final", True)]
        )
        assert done["latency"]["total"]["samples"] == 3
        kinds = [e["type"] for e in done["events"]]  # the call's events themselves, in order
        assert kinds[0] == "call_started" and kinds[-1] == "call_ended" and "playback_started" in kinds
        assert [e["seq"] for e in done["events"]] == sorted(e["seq"] for e in done["events"])
        assert "speech_started" not in kinds and len(kinds) == done["event_count"]
        assert all(t["seq"] > 0 for t in done["transcript"]), "every entry came from a folded event"
        stored = await runtime.history.get("call-h1")
        assert stored is not None and turns(done) == [(t.speaker, t.text) for t in stored.transcript]
        listed = (await client.get("/api/v1/calls")).json()
        assert [c["call_id"] for c in listed["calls"]] == ["call-h1"]


_SKIPPED = {"speech_started", "speech_stopped"}
"""What the history leaves out (with partial transcripts)."""


async def _until(
    client: httpx.AsyncClient, call_id: str, test: Callable[[dict[str, Any]], bool], within: float = 10.0
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    last: dict[str, Any] | None = None
    while asyncio.get_running_loop().time() < deadline:
        last = await fetch(client, call_id)
        if last is not None and test(last):
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"GET /api/v1/calls/{call_id} never matched; last answer: {last}")
