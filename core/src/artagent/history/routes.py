"""``GET /api/v1/calls`` and ``GET /api/v1/calls/{call_id}``: the call history over HTTP.

Query parameters are validated here, and every 400 names the parameter in its ``detail``
(``limit: Expected `int` <= 200``) and in ``extra`` (``[{"key": "limit", ...}]``); a parameter
these routes do not take is refused too, so a misspelt filter never silently lists everything.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Request, Response, Router, get
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.params import FromPath, Parameter
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_503_SERVICE_UNAVAILABLE

from artagent.access import operator_guard
from artagent.history.document import CallDetail, CallPage, CallQuery
from artagent.history.live import call_detail
from artagent.history.service import CallHistory, HistoryDisabledError, InvalidCursorError

__all__ = ["MAX_LIMIT", "history_router"]

MAX_LIMIT = 200
_LIST_PARAMS = frozenset({"since", "until", "outcome", "agent", "limit", "cursor"})


def _runtime(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.runtime


def _bad(key: str, message: str) -> ValidationException:
    return ValidationException(
        detail=f"{key}: {message}", extra=[{"key": key, "message": message, "source": "query"}]
    )


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """A time given without an offset is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


@get("/api/v1/calls", tags=["calls"])
async def list_calls(
    request: Request[Any, Any, Any],
    since: Annotated[
        dt.datetime | None, Parameter(description="Calls started at or after (RFC 3339)")
    ] = None,
    until: Annotated[dt.datetime | None, Parameter(description="Calls started before (RFC 3339)")] = None,
    outcome: Annotated[str | None, Parameter(description="Only calls that ended with this outcome")] = None,
    agent: Annotated[str | None, Parameter(description="Only calls this agent took part in")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="Calls per page")] = 50,
    cursor: Annotated[str | None, Parameter(description="next_cursor of the previous page")] = None,
) -> CallPage:
    """Calls in the history, newest first, a page at a time (follow ``next_cursor``)."""
    unknown = sorted(set(request.query_params) - _LIST_PARAMS)
    if unknown:
        raise _bad(unknown[0], f"unknown query parameter (known: {', '.join(sorted(_LIST_PARAMS))})")
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and until <= since:
        raise _bad("until", "must be later than since")
    query = CallQuery(since=since, until=until, outcome=outcome, agent=agent, limit=limit)
    history: CallHistory = _runtime(request).history
    try:
        return await history.list(query, cursor)
    except InvalidCursorError as exc:
        raise _bad("cursor", str(exc)) from None
    except HistoryDisabledError as exc:
        raise HTTPException(status_code=HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None


@get("/api/v1/calls/{call_id:str}", tags=["calls"])
async def get_call(request: Request[Any, Any, Any], call_id: FromPath[str]) -> CallDetail:
    """One call: live from its session state while a worker drives it, else from the history."""
    runtime = _runtime(request)
    found = await call_detail(runtime.history, runtime.sessions.store, call_id)
    if found is None:
        raise NotFoundException(detail=f"no call {call_id!r}: not live and not in the history")
    return found


def _name_the_field(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Litestar's own query validation says "Validation failed for GET ..."; say which field."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    named = [f"{e['key']}: {e['message']}" for e in extra if isinstance(e, dict) and "key" in e]
    body = {"status_code": HTTP_400_BAD_REQUEST, "detail": "; ".join(named) or exc.detail, "extra": extra}
    return Response(body, status_code=HTTP_400_BAD_REQUEST)


def history_router() -> Router:
    return Router(
        path="/",
        route_handlers=[list_calls, get_call],
        guards=[operator_guard],
        exception_handlers={ValidationException: _name_the_field},
    )
