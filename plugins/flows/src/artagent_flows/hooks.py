"""Hook implementations of the flows plugin (only hooks live here)."""

from __future__ import annotations

from typing import Any

from artagent.hookspecs import hookimpl
from artagent.providers import ProviderSpec


def _router(settings: Any) -> Any:
    from artagent_flows.router import FlowRouter

    return FlowRouter()


@hookimpl
def register_providers() -> list[ProviderSpec]:
    return [
        ProviderSpec(
            "model",
            "flows",
            _router,
            "the offline engine: runs each agent's form, knowledge and handoffs with no LLM",
        )
    ]
