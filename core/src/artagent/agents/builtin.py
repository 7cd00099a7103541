"""Tools every agent may list without a plugin providing them."""

from __future__ import annotations

import msgspec

from artagent.agents.tools import Tool, ToolContext, tool

__all__ = ["BUILTIN_TOOLS"]


class Goodbye(msgspec.Struct, kw_only=True):
    reason: str = "completed"


@tool
async def end_call(args: Goodbye, ctx: ToolContext) -> dict[str, bool]:
    """End the call once you have said goodbye: when the caller has nothing more to ask."""
    ctx.end_after_reply(args.reason or "completed")
    return {"ending": True}


BUILTIN_TOOLS: list[Tool] = [end_call]
