"""The browser plugin's HTTP surface: the page at ``/``, its files under ``/browser/``, the
page's settings, session tokens, the conversation WebSocket, and the page's own calls from the
history (with the view token each session token comes with)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import msgspec
from artagent.access import bearer_token
from artagent.history import CallDetail, call_detail
from litestar import MediaType, Request, Response, Router, WebSocket, get, post, websocket
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException
from litestar.params import FromPath, JSONBody
from litestar.static_files import create_static_files_router

from artagent_browser.auth import AuthError
from artagent_browser.conversation import converse
from artagent_browser.protocol import FRAME_MS, SAMPLE_RATE
from artagent_browser.service import BrowserService
from artagent_browser.tokens import TokenError

__all__ = ["STATIC", "SessionRequest", "browser_routes"]

STATIC = Path(__file__).parent / "static"
CONVERSATION_PATH = "/api/v1/browser/conversation"
# The page loads nothing from elsewhere; its worklets and scripts are files of this plugin.
_PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


class SessionRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/v1/browser/sessions``: the scenario picked on the page, and the password
    when ``auth = "password"`` (an OIDC bearer token comes in the Authorization header)."""

    scenario: str | None = None
    password: str | None = None


def _default_scenario(runtime: Any) -> str | None:
    """The scenario ``[agents]`` gives the browser channel (``None``: one plain assistant)."""
    name = runtime.config.agents.channels.get("browser") or runtime.agents.selector.default
    return str(name) if name else None


def _runtime(connection: Request[Any, Any, Any] | WebSocket[Any, Any, Any]) -> Any:
    return connection.app.state.runtime


@get("/", media_type=MediaType.HTML, include_in_schema=False, sync_to_thread=False)
def page() -> Response[bytes]:
    """The page: talk to the agents, with transcript, events and latency."""
    headers = {"content-security-policy": _PAGE_POLICY, "cache-control": "no-cache"}
    return Response(_page_html(), media_type=MediaType.HTML, headers=headers)


@cache
def _page_html() -> bytes:
    """Read once: the page is package data and does not change while the worker runs."""
    return (STATIC / "index.html").read_bytes()


@get("/config", sync_to_thread=False, tags=["browser"])
def page_config(request: Request[Any, Any, Any], browser: NamedDependency[BrowserService]) -> dict[str, Any]:
    """What the page needs before it starts: how to authenticate, the scenarios and the one
    picked by default, the audio format and the connection's limits."""
    runtime = _runtime(request)
    scenarios = sorted(runtime.agents.catalog.scenarios.values(), key=lambda s: s.name)
    return {
        "auth": browser.config.auth,
        "scenarios": [{"name": s.name, "description": s.description} for s in scenarios],
        "default_scenario": _default_scenario(runtime),
        "audio": {"sample_rate": SAMPLE_RATE, "frame_ms": FRAME_MS, "encoding": "pcm_s16le"},
        "limits": msgspec.to_builtins(browser.config.limits),
        "token_ttl_s": browser.config.token_ttl_s,
        "conversation": CONVERSATION_PATH,
    }


@post("/sessions", status_code=201, tags=["browser"])
async def create_session(
    request: Request[Any, Any, Any],
    browser: NamedDependency[BrowserService],
    data: JSONBody[SessionRequest | None] = None,
) -> dict[str, Any]:
    """A short-lived token that opens one conversation (``?token=`` on the WebSocket). 400
    naming an unknown scenario, 401 without the password or bearer token auth asks for, 503
    while the worker shuts down or when it lacks a speech provider."""
    body = data or SessionRequest()
    runtime = _runtime(request)
    if runtime.draining:
        raise HTTPException(status_code=503, detail="this worker is shutting down: no new calls")
    if runtime.sessions.missing:
        raise HTTPException(status_code=503, detail=f"calls cannot start here: {runtime.sessions.status}")
    scenarios = runtime.agents.catalog.scenarios
    if body.scenario and body.scenario not in scenarios:
        listed = ", ".join(sorted(scenarios)) or "none installed"
        raise HTTPException(
            status_code=400, detail=f"scenario: no scenario named {body.scenario!r} (scenarios: {listed})"
        )
    try:
        user = await browser.auth.user(
            authorization=request.headers.get("authorization"), password=body.password
        )
    except AuthError as exc:
        headers = {"www-authenticate": "Bearer"} if browser.config.auth == "oidc" else None
        raise HTTPException(status_code=exc.status, detail=exc.detail, headers=headers) from None
    scenario = body.scenario or _default_scenario(runtime)
    token, claims = browser.tokens.issue(scenario=scenario, user=user)
    return {
        "token": token,
        "call_id": claims.call_id,
        "scenario": claims.scenario,
        "expires_in_s": browser.config.token_ttl_s,
        "conversation": CONVERSATION_PATH,
        "view_token": browser.tokens.issue_view(claims.call_id),
    }


@get("/calls/{call_id:str}", tags=["browser"])
async def own_call(
    request: Request[Any, Any, Any], browser: NamedDependency[BrowserService], call_id: FromPath[str]
) -> CallDetail:
    """The page's own call, as ``GET /api/v1/calls/{call_id}`` shows it, for the bearer of that
    call's view token (``view_token`` of the session); 401 naming what is wrong otherwise."""
    try:
        browser.tokens.verify_view(bearer_token(request.headers.get("authorization")), call_id)
    except TokenError as exc:
        raise NotAuthorizedException(detail=str(exc), headers={"www-authenticate": "Bearer"}) from None
    runtime = _runtime(request)
    found = await call_detail(runtime.history, runtime.sessions.store, call_id)
    if found is None:
        raise NotFoundException(detail=f"no call {call_id!r}: not live and not in the history")
    return found


@websocket("/conversation")
async def conversation(socket: WebSocket[Any, Any, Any], browser: NamedDependency[BrowserService]) -> None:
    """The conversation (protocol in docs/browser.md): 1008 without a valid token."""
    await converse(socket, browser)


def browser_routes(service: BrowserService) -> list[Any]:
    """The plugin's routers; the page and its files only when ``page = true``."""
    provide = {"browser": Provide(lambda: service, use_cache=True, sync_to_thread=False)}
    handlers: list[Any] = [page_config, create_session, conversation, own_call]
    routers: list[Any] = [Router(path="/api/v1/browser", route_handlers=handlers, dependencies=provide)]
    if service.config.page:
        routers.append(Router(path="/", route_handlers=[page]))
        routers.append(
            create_static_files_router(
                path="/browser", directories=[STATIC], cache_control=CacheControlHeader(no_cache=True)
            )
        )
    return routers
