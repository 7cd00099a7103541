"""``artagent insurance claims [--json]``: the claims recorded, from the runtime's Redis."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from artagent.commands import Command
from artagent.config import LoadedConfig

__all__ = ["insurance_command"]


def _configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="insurance_action", required=True)
    claims = actions.add_parser("claims", help="list the claims recorded")
    claims.add_argument("--json", action="store_true", help="one JSON document per claim")
    # Also after the action (`artagent insurance claims --config FILE`); SUPPRESS keeps a value
    # given before it.
    claims.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="runtime.toml to use")


async def _claims(loaded: LoadedConfig) -> list[dict[str, Any]]:
    from artagent.agents.records import RedisRecordStore
    from artagent.bus.redis import connected

    from artagent_insurance.claims import ClaimBook

    async with connected(loaded) as redis:
        return await ClaimBook(RedisRecordStore(redis)).all()


def _run(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    claims = asyncio.run(_claims(loaded))
    for claim in claims:
        if args.json:
            print(json.dumps(claim, sort_keys=True))
        else:
            vehicle = claim.get("vehicle") or {}
            print(
                f"{claim['claim_id']}  {claim.get('recorded_at', '')[:16]}  {claim.get('caller_name', '')}  "
                f"{vehicle.get('year', '')} {vehicle.get('make', '')} {vehicle.get('model', '')}  "
                f"{claim.get('loss_city', '')}, {claim.get('loss_state', '')}"
            )
    if not claims and not args.json:
        print("no claims recorded")
    return 0


def insurance_command() -> Command:
    return Command("insurance", "the insurance vertical's data", _configure, _run)
