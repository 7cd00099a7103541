"""The insurance plugin itself: found through its entry point, its dataset, its tools on the
real record store (embedded Redis), its claims route, and a pip install next to core alone."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from artagent.agents.records import RedisRecordStore
from artagent.agents.tools import ToolContext
from artagent.bus.redis import EmbeddedRedis, async_client
from artagent.events import Event
from artagent.plugins import PluginHost
from artagent.providers import ToolCallRequest
from artagent_insurance.claims import ClaimRecorded
from artagent_insurance.policies import policy_book
from artagent_insurance.tools import TOOLS
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parents[3]
NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def test_the_plugin_is_found_through_its_entry_point() -> None:
    host = PluginHost()
    host.load_entry_points()
    info = host.plugins["insurance"]
    assert info.distribution == "artagent-insurance" and info.module == "artagent_insurance.hooks"
    assert {name for _, t in host.tools({}) for name in [t.name]} >= {
        "authenticate_caller",
        "find_policy_info",
        "record_fnol",
        "escalate_human",
        "escalate_emergency",
    }


def test_the_dataset_has_every_detail_the_agents_use() -> None:
    holders = policy_book().holders
    assert len(holders) >= 25
    for holder in holders:
        assert len(holder["address"]["zip"]) == 5 and holder["policy_number"].startswith("PA")
        assert holder["vehicles"] and all({"year", "make", "model"} <= set(v) for v in holder["vehicles"])
        assert {"collision_deductible", "glass", "roadside_assistance", "liability"} <= set(
            holder["coverage"]
        )
    endings = [h["policy_number"][-4:] for h in holders] + [h["phone"][-4:] for h in holders]
    assert len(endings) == len(set(endings)), "last four digits must identify one policyholder"


class Actions:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.escalations: list[str] = []

    def emit(self, event_type: type[Event], **fields: Any) -> Event:
        event = event_type(call_id="c", **fields)
        self.events.append(event)
        return event

    def end_after_reply(self, reason: str) -> None: ...

    def escalate(self, reason: str, target: str | None = None) -> None:
        self.escalations.append(reason)

    def set_outcome(self, outcome: str) -> None:
        self.outcome = outcome


@pytest.fixture
async def redis(embedded_redis: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = async_client(embedded_redis.url)
    yield client
    await client.aclose()


def context(redis: Redis, call_id: str = "call-1", fields: dict[str, Any] | None = None) -> ToolContext:
    return ToolContext(
        call_id=call_id,
        agent="test",
        fields=fields if fields is not None else {},
        store=RedisRecordStore(redis),
        actions=Actions(),
        now=lambda: NOW,
    )


async def run(ctx: ToolContext, name: str, **arguments: Any) -> tuple[bool, Any]:
    from artagent.agents.tools import ToolRegistry

    result = await ToolRegistry([("insurance", t) for t in TOOLS]).run(
        ToolCallRequest(id="t", name=name, arguments=arguments), ctx
    )
    return result.ok, result.content


async def test_verification_by_name_and_zip_forgives_spelling_but_not_the_zip(redis: Redis) -> None:
    ctx = context(redis)
    assert (await run(ctx, "authenticate_caller", full_name="Jon Smyth", zip="98052"))[0]
    assert ctx.fields["policy_number"] == "PA21440794" and ctx.fields["verified"] is True
    assert ctx.fields["vehicles"][1] == {"year": 2017, "make": "Honda", "model": "Accord"}
    other = context(redis)
    ok, content = await run(other, "authenticate_caller", full_name="John Smith", zip="98053")
    assert not ok and content["attempts_left"] == 2 and "verified" not in other.fields


async def test_three_failed_verifications_hand_the_call_to_a_person(redis: Redis) -> None:
    ctx = context(redis)
    actions: Actions = ctx.actions  # type: ignore[assignment]
    results = [await run(ctx, "authenticate_caller", last_four="0000") for _ in range(2)]
    assert actions.escalations == []
    results.append(await run(ctx, "authenticate_caller", full_name="Bob Jones", zip="12345"))
    assert [r[1]["attempts_left"] for r in results] == [2, 1, 0]
    assert results[-1][1]["escalate"] is True and results[-1][1]["escalated"] is True
    assert actions.escalations == ["caller verification failed 3 times"]  # the tool escalates itself


async def test_after_three_failures_even_the_right_details_are_refused(redis: Redis) -> None:
    ctx = context(redis, fields={"auth_failures": 3})
    actions: Actions = ctx.actions  # type: ignore[assignment]
    ok, content = await run(ctx, "authenticate_caller", full_name="John Smith", zip="98052")
    assert not ok and content["error"].startswith("verification refused: 3 attempts failed")
    assert "verified" not in ctx.fields and "policy_number" not in ctx.fields
    assert "PA21440794" not in json.dumps(content)  # nothing about the policy leaks
    assert actions.escalations == ["caller verification failed 3 times"]


async def test_nothing_about_a_policy_before_verification(redis: Redis) -> None:
    ok, content = await run(context(redis), "find_policy_info", topic="deductible")
    assert not ok and content == {"error": "the caller is not verified yet: verify them first"}


def fnol(**changes: Any) -> dict[str, Any]:
    claim = {
        "caller_name": "John Smith",
        "driver_name": "John Smith",
        "vehicle": {"make": "honda", "model": "accord"},
        "vehicles_involved": 2,
        "description": "Rear-ended at a light",
        "loss_datetime": "2026-11-30T15:00-08:00",
        "loss_street": "Main Street",
        "loss_city": "Redmond",
        "loss_state": "wa",
        "loss_zip": "98052",
        "drivable": True,
        "passengers": 0,
        "injuries": False,
        "trip_purpose": "commute",
    }
    return {**claim, **changes}


async def test_a_claim_is_validated_recorded_once_per_call_and_announced(redis: Redis) -> None:
    ctx = context(redis, fields={"verified": True, "policy_number": "PA21440794"})
    ok, first = await run(ctx, "record_fnol", **fnol())
    assert ok and first["claim_id"].startswith("CLA-2026-") and not first["already_recorded"]
    assert first["claim_id_spoken"].startswith("C L A, 2 0 2 6, 0 0 0")
    ok, again = await run(ctx, "record_fnol", **fnol(description="said twice"))
    assert ok and again["claim_id"] == first["claim_id"] and again["already_recorded"]
    stored = await RedisRecordStore(redis).get("insurance_claims", first["claim_id"])
    assert stored["vehicle"]["vin"].startswith("1HG") and stored["loss_state"] == "WA"
    assert stored["description"] == "Rear-ended at a light"
    assert ctx.actions.outcome == "claim_recorded"  # type: ignore[attr-defined]
    announced = [e for e in ctx.actions.events if isinstance(e, ClaimRecorded)]  # type: ignore[attr-defined]
    assert len(announced) == 1 and announced[0].vehicle == "2017 Honda Accord"
    second = context(redis, call_id="call-2", fields={"verified": True, "policy_number": "PA21440794"})
    ok, other = await run(second, "record_fnol", **fnol())
    assert ok and other["claim_id"] != first["claim_id"]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        (
            {"vehicle": {"make": "Toyota"}},
            "not on the policy; the insured vehicles are: 2017 Chevrolet Malibu",
        ),
        ({"loss_datetime": "2027-01-01T10:00"}, "cannot be in the future"),
        ({"loss_datetime": "last week"}, "ISO 8601"),
        ({"loss_zip": "9805"}, "invalid arguments (loss_zip)"),
        ({"vehicles_involved": 0}, "invalid arguments (vehicles_involved)"),
    ],
)
async def test_a_claim_with_a_wrong_detail_is_refused_naming_it(
    redis: Redis, changes: dict[str, Any], error: str
) -> None:
    ctx = context(redis, fields={"verified": True, "policy_number": "PA21440794"})
    ok, content = await run(ctx, "record_fnol", **fnol(**changes))
    assert not ok and error in content["error"]
    assert await RedisRecordStore(redis).all("insurance_claims") == {}


def test_installed_next_to_core_alone_the_scenario_appears_and_answers(tmp_path: Path) -> None:
    """A fresh environment with only core, then this plugin: `artagent agents` lists the
    scenario, found through the entry point, and a call is answered. The offline engine comes
    with the plugin as its dependency (pip takes artagent-flows from a folder of wheels, as it
    would from an index: the workspace's plugins are not published)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, str(ROOT / "core")], check=True, timeout=600)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [*pip[:-2], "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT / "plugins" / "flows")],
        check=True, timeout=600,
    )  # fmt: skip
    subprocess.run(
        [*pip, "--find-links", str(wheels), str(ROOT / "plugins" / "insurance")], check=True, timeout=600
    )
    config = tmp_path / "runtime.toml"
    config.write_text(f'[runtime]\ndata_dir = "{tmp_path}/state"\n')
    artagent = str(venv / "bin" / "artagent")
    result = subprocess.run(
        [artagent, "agents", "--json", "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)
    assert [s["name"] for s in described["scenarios"]] == ["insurance"]
    assert {a["name"]: a["router_now"] for a in described["agents"]} == {
        "auth": "flows",
        "fnol_intake": "flows",
        "general_info": "flows",
    }
    listed = subprocess.run(
        [artagent, "plugins", "--config", str(config)], capture_output=True, text=True, check=False
    )
    names = [line.split()[:2] for line in listed.stdout.splitlines() if not line.startswith(" ")]
    assert names == [["flows", "artagent-flows"], ["insurance", "artagent-insurance"]], listed.stdout
    call = subprocess.run(
        [artagent, "chat", "--config", str(config), "--scenario", "insurance"],
        input="John Smith 98052\n", capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert call.returncode == 0, call.stdout + call.stderr
    assert "Thank you, John, you're verified." in call.stdout


async def test_claims_are_served_over_http(make_config: Any) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "core"))
    from artagent.app import create_app
    from artagent.runtime import Runtime
    from test_app import serving

    runtime = Runtime(make_config())
    async with serving(create_app(runtime)) as http:
        ctx = context(runtime.redis, fields={"verified": True, "policy_number": "PA21440794"})
        ok, recorded = await run(ctx, "record_fnol", **fnol())
        assert ok
        claim = await http.get(f"/api/v1/insurance/claims/{recorded['claim_id']}")
        assert claim.status_code == 200 and claim.json()["loss_city"] == "Redmond"
        listed = await http.get("/api/v1/insurance/claims")
        assert [c["claim_id"] for c in listed.json()["claims"]] == [recorded["claim_id"]]
        missing = await http.get("/api/v1/insurance/claims/CLA-2026-999999")
        assert missing.status_code == 404 and "CLA-2026-999999" in missing.text


async def test_a_claim_recorded_while_redis_restarts_is_kept(embedded_redis: EmbeddedRedis) -> None:
    import asyncio

    client = async_client(embedded_redis.url)
    try:
        ctx = context(client, fields={"verified": True, "policy_number": "PA21440794"})
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, embedded_redis.stop)
        recording = asyncio.create_task(run(ctx, "record_fnol", **fnol()))
        await asyncio.sleep(1.0)
        assert not recording.done(), "the tool waits for Redis instead of failing the caller"
        await loop.run_in_executor(None, embedded_redis.start)
        ok, recorded = await asyncio.wait_for(recording, 15)
        assert ok, recorded
        await loop.run_in_executor(None, embedded_redis.stop)  # written to disk, read back
        await loop.run_in_executor(None, embedded_redis.start)
        stored = await RedisRecordStore(client).get("insurance_claims", recorded["claim_id"])
        assert stored is not None and stored["loss_city"] == "Redmond"
    finally:
        await client.aclose()
