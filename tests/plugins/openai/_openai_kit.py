"""Helpers of the openai plugin's tests."""

from __future__ import annotations

from typing import Any

from artagent.providers import ModelItem, ModelRequest
from artagent.session.state import Message
from artagent_openai.router import OpenAIRouter


def ask(text: str = "What is my deductible?", **settings: Any) -> ModelRequest:
    messages = [
        Message(role="system", content="You are an insurance agent."),
        Message(role="user", content=text),
    ]
    return ModelRequest(messages=messages, **settings)


async def collect(router: OpenAIRouter, request: ModelRequest) -> list[ModelItem]:
    return [item async for item in router.stream(request)]
