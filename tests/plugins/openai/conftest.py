"""Fixtures of the openai plugin's tests: a fake OpenAI server on loopback, and routers aimed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from artagent_openai.config import RouterConfig
from artagent_openai.router import OpenAIRouter
from fakes.openai_server import FakeOpenAIServer

FAST = {"retry_backoff_s": 0.01, "retry_max_backoff_s": 0.05, "first_token_timeout_s": 5.0, "timeout_s": 10.0}
"""Retries that do not make the suite slow; timeouts far above a loopback round trip."""


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key="sk-test") as server:
        yield server


@pytest.fixture
async def make_router(openai_server: FakeOpenAIServer) -> AsyncIterator[Callable[..., OpenAIRouter]]:
    """Build routers aimed at the fake server (kind ``openai`` unless told); all closed after."""
    built: list[OpenAIRouter] = []

    def build(**settings: Any) -> OpenAIRouter:
        settings = {**FAST, **settings}
        api_key = settings.pop("api_key", "sk-test")
        kind = settings.setdefault("kind", "openai")
        if kind == "azure":
            settings.setdefault("endpoint", openai_server.endpoint)
            settings.setdefault("api_version", "2024-10-21")
            settings.setdefault("deployment", "gpt-4o-deploy")
        else:
            settings.setdefault("base_url", openai_server.base_url)
            settings.setdefault("model", "gpt-4o")
        router = OpenAIRouter(settings.pop("name", "test"), RouterConfig(**settings), api_key=api_key)
        built.append(router)
        return router

    yield build
    for router in built:
        await router.aclose()
