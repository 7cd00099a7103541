"""``GET /api/v1/insurance/claims`` and ``GET /api/v1/insurance/claims/{claim_id}``."""

from __future__ import annotations

from typing import Any

from artagent.access import operator_guard
from artagent.agents.records import RedisRecordStore
from litestar import Router, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from redis.asyncio import Redis

from artagent_insurance.claims import ClaimBook

__all__ = ["claims_router"]


def claims_router(redis: Redis) -> Router:
    book = ClaimBook(RedisRecordStore(redis))

    @get("/claims", tags=["insurance"])
    async def list_claims() -> dict[str, Any]:
        """Every claim recorded, oldest first."""
        return {"claims": await book.all()}

    @get("/claims/{claim_id:str}", tags=["insurance"])
    async def get_claim(claim_id: FromPath[str]) -> dict[str, Any]:
        """One claim as recorded by ``record_fnol``; 404 for an unknown id."""
        claim = await book.get(claim_id)
        if claim is None:
            raise NotFoundException(f"no claim {claim_id!r}")
        return claim

    # Claims name policyholders: behind the operator token when [server] api_token_env is set.
    return Router("/api/v1/insurance", route_handlers=[list_claims, get_claim], guards=[operator_guard])
