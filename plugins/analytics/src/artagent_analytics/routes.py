"""HTTP routes of the analytics plugin, under /api/v1/analytics."""

from __future__ import annotations

from artagent.access import metrics_guard, operator_guard
from litestar import Router, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from artagent_analytics.store import AnalyticsStore, CallAnalytics, Summary


def analytics_router(store: AnalyticsStore) -> Router:
    @get("/calls/{call_id:str}", guards=[operator_guard])
    async def call_analytics(call_id: FromPath[str]) -> CallAnalytics:
        """Counters and latency of one call; 404 when the call is unknown (or expired)."""
        found = await store.call(call_id)
        if found is None:
            raise NotFoundException(detail=f"no analytics for call {call_id!r}")
        return found

    @get("/summary", guards=[metrics_guard])
    async def summary() -> Summary:
        """Totals over every call, active calls, outcomes, and recent per-turn latency. Counts
        only: the metrics token opens it too (an autoscaler reads ``active_calls``)."""
        return await store.summary()

    # Behind the operator token ([server] api_token_env) when one is set; the summary also
    # takes the metrics token, which the Container Apps scale rule sends.
    router = Router(path="/api/v1/analytics", route_handlers=[call_analytics, summary], tags=["analytics"])
    return router
