"""What the flow engine remembers between turns, per agent and per call.

It lives in the ``memory`` the orchestrator hands the router (saved with the call's state), so
a call resumed on another worker goes on with the same question pending. The values collected
are not here: they are the call's fields, shared with the tools and the other agents.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["Awaiting", "FlowMemory"]


class Awaiting(msgspec.Struct, kw_only=True):
    """A tool call the engine made and whose result comes back in the next request."""

    id: str
    kind: Literal["form", "knowledge", "escalation", "handoff"]
    index: int = 0
    """Which knowledge entry, for ``knowledge``."""


class FlowMemory(msgspec.Struct, kw_only=True):
    asked: str | None = None
    """The field whose question was put last."""
    confirming: str | None = None
    """``"form"`` while the read-back awaits a yes, or the field read back for confirmation."""
    correcting: bool = False
    """The caller said the read-back was wrong: the next answer says what to change."""
    misses: int = 0
    """Answers in a row that gave nothing for the field asked."""
    attempts: int = 0
    """Failed calls of the form's tool."""
    done: bool = False
    """The form's tool succeeded."""
    intent: str | None = None
    """A handoff the caller wished for before the form (a gate) was complete: the target."""
    intent_words: str = ""
    awaiting: Awaiting | None = None
    partial: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)
    """Half of a date and time already heard: field -> {"date": ...} or {"time": ...}."""
    skipped: list[str] = msgspec.field(default_factory=list)
    """Optional fields the caller could not answer: not asked again."""
    order: list[str] = msgspec.field(default_factory=list)
    """Fields in the order they were collected (the latest is what a bare "no, ..." corrects)."""

    @classmethod
    def load(cls, raw: dict[str, Any]) -> FlowMemory:
        try:
            return msgspec.convert(raw, cls)
        except msgspec.ValidationError:
            return cls()  # a memory from another release: start the form over, keep the fields

    def save(self, raw: dict[str, Any]) -> None:
        raw.clear()
        raw.update(msgspec.to_builtins(self))
