"""The offline model router: an agent's form, knowledge and handoffs run with no LLM.

Registered as the ``flows`` model provider. Each request carries the agent's definition and
the router's memory for it (``ModelRequest.context``, filled by the orchestrator); a request
without one (a plain assistant, no agent) gets a short answer saying what is missing.
Understanding a turn takes about a millisecond, so it runs on the event loop; the warm-up at
start-up loads dateparser's data so the first call does not pay for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from artagent.providers import ModelItem, ModelRequest, TextDelta

from artagent_flows import extract
from artagent_flows.turn import FlowTurn

__all__ = ["FlowRouter"]

NO_AGENT = (
    "I can only follow an agent's form, and no agent is set up for this call. Install a vertical "
    "such as artagent-insurance, or configure a language model router."
)


class FlowRouter:
    def __init__(self) -> None:
        self._warm = False

    def unavailable(self) -> str | None:
        return None

    async def warm_up(self) -> None:
        if not self._warm:
            extract.warm_up()
            self._warm = True

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelItem]:
        context = request.context
        if context is None or context.definition is None:
            yield TextDelta(NO_AGENT)
            return
        for item in FlowTurn(request, context).run():
            yield item
