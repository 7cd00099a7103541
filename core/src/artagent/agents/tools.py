"""Tools: async functions an agent may call, with typed arguments.

A tool is an async function taking a msgspec Struct (its arguments) and a :class:`ToolContext`;
the JSON schema the model sees is generated from the Struct, and the arguments the model sends
are validated against it before the function runs::

    class LookUp(msgspec.Struct):
        policy_number: str

    @tool
    async def find_policy(args: LookUp, ctx: ToolContext) -> dict[str, Any]:
        "Find a policy by its number."
        return await ctx.store.get("policies", args.policy_number) or {"found": False}

Plugins return their tools from the ``register_tools`` hook. Invalid arguments go back to the
model as a validation message (so it can ask again); an exception inside a tool is reported
(``error_occurred``, stage ``tool``) and the model is told only that the tool failed.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol, TypeVar, get_type_hints

import msgspec

from artagent.config import issue_from_validation
from artagent.events import ErrorOccurred, Event
from artagent.providers import ToolCallRequest, ToolSpec
from artagent.session.tools import ToolResult

__all__ = ["RecordStore", "Tool", "ToolContext", "ToolError", "ToolRegistry", "tool"]

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)


class RecordStore(Protocol):
    """Durable JSON records for tools (claims, bookings...), by collection and key."""

    async def get(self, collection: str, key: str) -> Any | None: ...

    async def put(self, collection: str, key: str, value: Any) -> None: ...

    async def add(self, collection: str, key: str, value: Any) -> bool:
        """Store ``value`` unless ``key`` exists; ``True`` if it was stored."""
        ...

    async def all(self, collection: str) -> dict[str, Any]: ...

    async def delete(self, collection: str, key: str) -> bool: ...

    async def next_number(self, counter: str) -> int:
        """1, 2, 3... for this counter, never twice the same."""
        ...


class CallActions(Protocol):
    """What the orchestrator lets a tool do to the call."""

    def emit(self, event_type: type[E], **fields: Any) -> E: ...

    def end_after_reply(self, reason: str) -> None: ...

    def escalate(self, reason: str, target: str | None = None) -> None: ...

    def set_outcome(self, outcome: str) -> None: ...


class ToolError(Exception):
    """Raised by a tool to tell the model (and the caller) something specific went wrong: its
    message is passed on, unlike any other exception's."""


@dataclass
class ToolContext:
    """What a tool sees of its call: never the runtime itself."""

    call_id: str
    agent: str
    fields: dict[str, Any]
    """The call's collected fields; a tool may add to them (saved with the turn)."""
    store: RecordStore
    actions: CallActions
    now: Callable[[], dt.datetime]
    scenario: str | None = None

    def emit(self, event_type: type[E], **fields: Any) -> E:
        return self.actions.emit(event_type, **fields)

    def end_after_reply(self, reason: str) -> None:
        """Hang up once the agent has said its reply (its goodbye)."""
        self.actions.end_after_reply(reason)

    def escalate(self, reason: str, target: str | None = None) -> None:
        """Ask for a human: ``escalation_requested`` now, the transfer after the reply is spoken."""
        self.actions.escalate(reason, target)

    def set_outcome(self, outcome: str) -> None:
        """The call's business result (``call_ended.outcome``, the history's ``outcome``)."""
        self.actions.set_outcome(outcome)


ToolFunction = Callable[[Any, ToolContext], Awaitable[Any]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    function: ToolFunction
    arguments: type[msgspec.Struct] | None = None
    """The Struct the arguments decode into; ``None``: the tool takes none."""

    def spec(self) -> ToolSpec:
        """What the model is told of the tool. Built once: a model round asks for every tool's
        spec, and the JSON Schema takes far longer to make than the round's other work. Its
        ``parameters`` are shared by every round, so nothing may change them."""
        return self._spec

    @cached_property
    def _spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters())

    def parameters(self) -> dict[str, Any]:
        if self.arguments is None:
            return {"type": "object", "properties": {}}
        schema = msgspec.json.schema(self.arguments)
        defs: dict[str, Any] = schema.pop("$defs", {})
        ref = schema.get("$ref", "").rsplit("/", 1)[-1]
        top = dict(defs.pop(ref, schema))
        top.pop("title", None)
        if defs:
            top["$defs"] = defs
        return top

    def decode(self, arguments: Mapping[str, Any]) -> Any:
        if self.arguments is None:
            return None
        return msgspec.convert(dict(arguments), self.arguments)


def tool(
    function: ToolFunction | None = None, *, name: str | None = None, description: str | None = None
) -> Any:
    """Make a :class:`Tool` of an async function ``(args: SomeStruct, ctx: ToolContext)``; its
    name is the function's and its description the docstring's first paragraph."""

    def build(fn: ToolFunction) -> Tool:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"tool {fn.__name__}: must be an async function")
        try:
            hints = get_type_hints(fn)
        except NameError as exc:
            raise TypeError(
                f"tool {fn.__name__}: cannot resolve its annotations ({exc}); define its argument "
                "Struct at module level"
            ) from None
        params = list(inspect.signature(fn).parameters)
        arguments = hints.get(params[0]) if params else None
        if arguments is not None and not (
            isinstance(arguments, type) and issubclass(arguments, msgspec.Struct)
        ):
            raise TypeError(f"tool {fn.__name__}: its first argument must be annotated with a msgspec Struct")
        doc = inspect.getdoc(fn) or ""
        return Tool(
            name=name or fn.__name__,
            description=description or doc.split("\n\n", 1)[0].replace("\n", " "),
            function=fn,
            arguments=arguments,
        )

    return build(function) if function is not None else build


class ToolRegistry:
    """Every tool of a runtime, by name."""

    def __init__(self, tools: Iterable[tuple[str, Tool]] = ()) -> None:
        self._tools: dict[str, tuple[Tool, str]] = {}
        for owner, item in tools:
            self.add(item, owner=owner)

    def add(self, item: Tool, *, owner: str) -> None:
        if not isinstance(item, Tool):
            raise TypeError(f"{owner}: register_tools returned {item!r}, not a Tool (use @tool)")
        if item.name in self._tools:
            raise ValueError(
                f"{owner}: tool {item.name!r} is already registered by {self._tools[item.name][1]}"
            )
        self._tools[item.name] = (item, owner)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def get(self, name: str) -> Tool:
        return self._tools[name][0]

    def owner(self, name: str) -> str:
        return self._tools[name][1]

    def names(self) -> list[str]:
        return sorted(self._tools)

    async def run(self, call: ToolCallRequest, ctx: ToolContext) -> ToolResult:
        """Validate the arguments, run the tool, and turn every failure into a result."""
        found = self._tools.get(call.name)
        if found is None:
            return ToolResult(ok=False, content={"error": f"there is no tool named {call.name}"})
        item = found[0]
        try:
            arguments = item.decode(call.arguments)
        except msgspec.ValidationError as exc:
            issue = issue_from_validation(exc)
            where = f" ({issue.path})" if issue.path else ""
            return ToolResult(ok=False, content={"error": f"invalid arguments{where}: {issue.message}"})
        try:
            content = await item.function(arguments, ctx)
        except ToolError as exc:
            return ToolResult(ok=False, content={"error": str(exc)})
        except Exception as exc:  # a tool's bug must not end the call, nor leak to the caller
            log.exception("tool %s failed in call %s", call.name, ctx.call_id)
            ctx.emit(ErrorOccurred, kind=type(exc).__name__, message=str(exc), stage="tool", recoverable=True)
            return ToolResult(
                ok=False, content={"error": f"{call.name} failed; tell the caller it could not be done now"}
            )
        if isinstance(content, ToolResult):
            return content
        return ToolResult(content=content)
