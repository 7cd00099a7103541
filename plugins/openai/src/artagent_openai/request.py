"""A :class:`~artagent.providers.ModelRequest` as the body of a chat completions request.

Every setting that has a value, in the request or as the router's default, is sent; one that is
``None`` in both is left out, so the server's own default applies rather than one invented here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from artagent.providers import ModelRequest, ToolSpec

from artagent_openai.config import RouterConfig

__all__ = ["chat_body", "message_dict", "tool_dict"]


def message_dict(message: Any) -> dict[str, Any]:
    """One history entry in the chat format; session bookkeeping (agent, time) stays behind."""
    if isinstance(message, msgspec.Struct):
        message = msgspec.structs.asdict(message)
    if not isinstance(message, Mapping):
        raise TypeError(f"a message must be a Message or a mapping, not {type(message).__name__}")
    role = message["role"]
    content = message.get("content") or ""
    if role == "tool":
        return {"role": "tool", "tool_call_id": message.get("tool_call_id") or "", "content": content}
    entry: dict[str, Any] = {"role": role, "content": content}
    if role == "assistant" and message.get("tool_calls"):
        entry["tool_calls"] = list(message["tool_calls"])
        entry["content"] = content or None
    return entry


def tool_dict(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
    }


def chat_body(request: ModelRequest, router: RouterConfig, model: str) -> dict[str, Any]:
    """Keyword arguments of ``chat.completions.create`` (streaming) for ``model``."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [message_dict(m) for m in request.messages],
        "stream": True,
    }
    if router.stream_usage:
        body["stream_options"] = {"include_usage": True}
    if request.tools:
        body["tools"] = [tool_dict(tool) for tool in request.tools]
    settings = {
        "temperature": _first(request.temperature, router.temperature),
        "top_p": _first(request.top_p, router.top_p),
        router.token_field: _first(request.max_tokens, router.max_tokens),
    }
    body.update({key: value for key, value in settings.items() if value is not None})
    if router.extra_body:
        body["extra_body"] = dict(router.extra_body)
    return body


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)
