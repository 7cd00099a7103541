"""HTTP routes of the analytics plugin, under /api/v1/analytics."""

from __future__ import annotations

from artagent.access import operator_guard
from litestar import Router, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from artagent_analytics.store import AnalyticsStore, CallAnalytics, Summary


def analytics_router(store: AnalyticsStore) -> Router:
    @get("/calls/{call_id:str}")
    async def call_analytics(call_id: FromPath[str]) -> CallAnalytics:
        """Counters and latency of one call; 404 when the call is unknown (or expired)."""
        found = await store.call(call_id)
        if found is None:
            raise NotFoundException(detail=f"no analytics for call {call_id!r}")
        return found

    @get("/summary")
    async def summary() -> Summary:
        """Totals over every call, active calls, outcomes, and recent per-turn latency."""
        return await store.summary()

    # Behind the operator token ([server] api_token_env) when one is set: the Container Apps
    # scale rule sends it (packaging/azure/containerapp.yaml).
    router = Router(
        path="/api/v1/analytics",
        route_handlers=[call_analytics, summary],
        tags=["analytics"],
        guards=[operator_guard],
    )
    return router
