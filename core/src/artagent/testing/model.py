"""A scripted model: replies in order (or computed from the request) with exact token timing.

It records every request, so a test can assert the history the session sent (after a barge-in,
only what the caller heard), and whether each reply was cut short.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field

from artagent.providers import ModelItem, ModelRequest, TextDelta
from artagent.session.playout import Clock
from artagent.testing.fakes import FakeProviderError

__all__ = ["FakeModel", "ModelCall", "ModelItem", "ScriptedResponse"]

ScriptedResponse = str | Sequence[ModelItem | BaseException]
"""A reply: text (streamed word by word), or items in order; an exception item is raised there."""


@dataclass
class ModelCall:
    """One stream() call as the fake saw it."""

    request: ModelRequest
    started_at: float
    first_token_at: float | None = None
    ended_at: float | None = None
    items: list[ModelItem] = field(default_factory=list)
    """What was actually yielded before the end (or the cancellation)."""
    cancelled: bool = False


class FakeModel:
    """Scripted replies, one per request in order (or computed from the request), the first item
    ``first_token_latency_s`` after the request and the rest ``inter_token_s`` apart."""

    def __init__(
        self,
        clock: Clock,
        responses: Sequence[ScriptedResponse] | Callable[[ModelRequest], ScriptedResponse] = (),
        *,
        first_token_latency_s: float = 0.3,
        inter_token_s: float = 0.02,
    ) -> None:
        self.clock = clock
        self.responses = responses if callable(responses) else list(responses)
        self.first_token_latency_s = first_token_latency_s
        self.inter_token_s = inter_token_s
        self.calls: list[ModelCall] = []
        self.cancelled = 0
        """Replies stopped before their last item (iteration cancelled or closed)."""

    @property
    def requests(self) -> list[ModelRequest]:
        return [call.request for call in self.calls]

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelItem, None]:
        call = ModelCall(request=request, started_at=self.clock.now())
        self.calls.append(call)
        return self._reply(call, self._script(len(self.calls) - 1, request))

    def _script(self, index: int, request: ModelRequest) -> Sequence[ModelItem | BaseException]:
        if callable(self.responses):
            response = self.responses(request)
        elif index < len(self.responses):
            response = self.responses[index]
        else:
            count = len(self.responses)
            return [FakeProviderError(f"FakeModel got request #{index + 1} but has {count} replies")]
        if isinstance(response, str):
            return [TextDelta(word) for word in re.findall(r"\s*\S+", response)]
        return response

    async def _reply(
        self, call: ModelCall, items: Sequence[ModelItem | BaseException]
    ) -> AsyncGenerator[ModelItem, None]:
        try:
            for position, item in enumerate(items):
                await self.clock.sleep(self.inter_token_s if position else self.first_token_latency_s)
                if isinstance(item, BaseException):
                    raise item
                if call.first_token_at is None:
                    call.first_token_at = self.clock.now()
                call.items.append(item)
                yield item
        except (GeneratorExit, asyncio.CancelledError):
            call.cancelled = True
            self.cancelled += 1
            raise
        finally:
            call.ended_at = self.clock.now()
