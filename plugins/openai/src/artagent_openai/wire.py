"""A ``chat.completion.chunk`` as the router reads it: only the fields it uses, as msgspec Structs.

Every field has a default and accepts ``null``, because compatible servers leave out or null
what OpenAI always sends (Azure's prompt-filter chunk has no choices, Ollama's tool calls may
lack ``index``); other fields (``id``, ``model``, ``logprobs``, ``role``, content filter
results...) are skipped by the decoder without being built. The structs are not tracked by the
garbage collector (``gc=False``): decoded JSON cannot hold a reference cycle.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["Choice", "Chunk", "Delta", "FunctionFragment", "ToolCallFragment", "Usage", "decode_chunk"]


class FunctionFragment(msgspec.Struct, gc=False):
    name: str | None = None
    arguments: str | None = None


class ToolCallFragment(msgspec.Struct, gc=False):
    index: int | None = None
    """Which call of the response this fragment belongs to; missing: its place in the list."""
    id: str | None = None
    function: FunctionFragment | None = None


class Delta(msgspec.Struct, gc=False):
    content: str | None = None
    tool_calls: list[ToolCallFragment] | None = None


class Choice(msgspec.Struct, gc=False):
    index: int = 0
    delta: Delta | None = None
    finish_reason: str | None = None


class Usage(msgspec.Struct, gc=False):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class Chunk(msgspec.Struct, gc=False):
    choices: list[Choice] | None = None
    usage: Usage | None = None
    error: Any = None
    """An error event in the stream (``{"error": {"message": ...}}``), as the server sent it."""


_decoder = msgspec.json.Decoder(Chunk)


def decode_chunk(data: bytes) -> Chunk:
    """One event's data; raises ``msgspec.DecodeError`` (or its ``ValidationError``)."""
    return _decoder.decode(data)
