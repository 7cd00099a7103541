"""Chat completion chunks -> text deltas, complete tool calls and the usage, in stream order.

Text is released chunk by chunk. A tool call arrives as fragments (its id and name first, then
pieces of its JSON arguments) keyed by ``index``, and fragments of several calls may interleave;
a call is only known to be complete when the choice finishes, so calls are released then, in
index order, with their arguments decoded. A fragment without an ``index`` (some compatible
servers send whole calls so) counts by its place in its chunk's list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from artagent.providers import ModelItem, ModelUsage, TextDelta, ToolCallRequest

from artagent_openai.errors import ModelResponseError
from artagent_openai.wire import Chunk, Delta

__all__ = ["ChunkAssembler"]


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ChunkAssembler:
    """Reassembles one streamed response of ``model``."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.started = False
        """A token or a tool-call fragment has arrived (the first-token timeout is met)."""
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._calls: dict[int, _PartialCall] = {}

    def feed(self, chunks: list[Chunk]) -> list[ModelItem]:
        """The items that ``chunks`` (in stream order) complete."""
        items: list[ModelItem] = []
        for chunk in chunks:
            if chunk.usage is not None:
                self.prompt_tokens = chunk.usage.prompt_tokens or 0
                self.completion_tokens = chunk.usage.completion_tokens or 0
            for choice in chunk.choices or ():
                if choice.index != 0:  # n is never asked for: only the first choice exists
                    continue
                delta = choice.delta
                if delta is not None:
                    if delta.content:
                        self.started = True
                        items.append(TextDelta(delta.content))
                    if delta.tool_calls:
                        self._gather(delta)
                if choice.finish_reason is not None:
                    items += self._release_calls()
        return items

    def _gather(self, delta: Delta) -> None:
        self.started = True
        for place, fragment in enumerate(delta.tool_calls or ()):
            index = place if fragment.index is None else fragment.index
            call = self._calls.setdefault(index, _PartialCall())
            call.id = call.id or (fragment.id or "")
            if fragment.function is not None:
                call.name = call.name or (fragment.function.name or "")
                call.arguments.append(fragment.function.arguments or "")

    def finish(self) -> list[ModelItem]:
        """At the end of the stream: calls a server never finished, then the usage."""
        usage = ModelUsage(
            model=self.model, prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens
        )
        return [*self._release_calls(), usage]

    def _release_calls(self) -> list[ModelItem]:
        calls = [self._complete(index, self._calls[index]) for index in sorted(self._calls)]
        self._calls.clear()
        return list(calls)

    def _complete(self, index: int, call: _PartialCall) -> ToolCallRequest:
        if not call.name:
            raise ModelResponseError(f"model {self.model!r} sent tool call #{index} without a name")
        text = "".join(call.arguments).strip()
        try:
            arguments: Any = json.loads(text) if text else {}
        except json.JSONDecodeError as error:
            raise ModelResponseError(
                f"model {self.model!r} sent arguments for tool {call.name!r} that are not JSON "
                f"({error.msg} at character {error.pos}): {text[:200]!r}"
            ) from None
        if not isinstance(arguments, dict):
            raise ModelResponseError(
                f"model {self.model!r} sent arguments for tool {call.name!r} that are not a JSON object: "
                f"{text[:200]!r}"
            )
        return ToolCallRequest(id=call.id or f"call_{index}", name=call.name, arguments=arguments)
