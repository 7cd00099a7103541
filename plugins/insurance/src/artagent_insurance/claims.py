"""Claims: recorded durably in the runtime's record store, announced on the bus.

A claim is one JSON document in the ``insurance_claims`` collection, keyed by its id
(``CLA-2026-000123``: the year and a per-year sequence number). A second collection maps each
call to the claim it recorded, which makes recording idempotent for the call: a model (or a
caller) asking to record the same claim twice gets the same claim id back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from artagent.agents.tools import RecordStore
from artagent.events import Event

__all__ = ["CLAIMS", "ClaimBook", "ClaimRecorded"]

CLAIMS = "insurance_claims"
BY_CALL = "insurance_claims_by_call"


class ClaimRecorded(Event, frozen=True, kw_only=True, tag="claim_recorded"):
    """A first notice of loss was recorded (the document is at /api/v1/insurance/claims/{id})."""

    claim_id: str = ""
    policy_number: str = ""
    caller_name: str = ""
    vehicle: str = ""
    loss_datetime: str = ""
    injuries: bool = False


class ClaimBook:
    def __init__(self, store: RecordStore) -> None:
        self.store = store

    async def for_call(self, call_id: str) -> dict[str, Any] | None:
        claim_id = await self.store.get(BY_CALL, call_id)
        return None if claim_id is None else await self.store.get(CLAIMS, claim_id)

    async def record(
        self, call_id: str, claim: dict[str, Any], now: dt.datetime
    ) -> tuple[dict[str, Any], bool]:
        """Store ``claim`` under a new id, unless the call already recorded one; returns the
        stored claim and whether it is new."""
        existing = await self.for_call(call_id)
        if existing is not None:
            return existing, False
        number = await self.store.next_number(f"claims-{now.year}")
        claim_id = f"CLA-{now.year}-{number:06d}"
        document = {**claim, "claim_id": claim_id, "call_id": call_id, "recorded_at": now.isoformat()}
        await self.store.put(CLAIMS, claim_id, document)
        if not await self.store.add(BY_CALL, call_id, claim_id):  # a concurrent request won
            await self.store.delete(CLAIMS, claim_id)
            return await self.for_call(call_id) or document, False
        return document, True

    async def get(self, claim_id: str) -> dict[str, Any] | None:
        return await self.store.get(CLAIMS, claim_id)

    async def all(self) -> list[dict[str, Any]]:
        claims = await self.store.all(CLAIMS)
        return sorted(claims.values(), key=lambda c: c.get("recorded_at", ""))
