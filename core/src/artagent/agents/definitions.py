"""Agent and scenario definitions: the YAML an agent author writes, decoded into Structs.

An agent is one YAML file (``agents/<name>.yaml`` in a plugin's agent folder) plus the Jinja
prompt it names. A scenario (``scenarios/<name>.yaml``) puts agents together: which one answers
first, which may hand the call to which, and how much of the conversation travels with it.
Everything is decoded with msgspec; an error names the file and the dotted key
(``agents/auth.yaml: form.fields[1].type: Expected one of ...``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from artagent.config import issue_from_validation
from artagent.providers import VoiceSpec

__all__ = [
    "FIELD_TYPES",
    "AgentDefinition",
    "DefinitionError",
    "FieldSpec",
    "FieldType",
    "FormSpec",
    "HandoffEdge",
    "HandoffSpec",
    "IntentSpec",
    "ModelSettings",
    "Phrases",
    "ScenarioDefinition",
    "Validation",
    "decode_yaml",
]

Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
"""Agent, scenario, field and tool names: lower-case identifiers (they become tool names)."""
Template = str
"""A Jinja template, rendered with the call's context."""

FieldType = Literal[
    "text",
    "name",
    "digits",
    "zip",
    "date",
    "time",
    "datetime",
    "yes_no",
    "choice",
    "integer",
    "count",
    "address",
    "street",
    "city",
    "state",
    "vehicle",
]
FIELD_TYPES: tuple[str, ...] = FieldType.__args__  # type: ignore[attr-defined]


class DefinitionError(ValueError):
    """A definition file that cannot be used; the message names the file and the key."""

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source, self.path, self.reason = source, path, message
        where = f"{source}: {path}: " if path else f"{source}: "
        super().__init__(where + message)


class _Spec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class ModelSettings(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the agent asks of its model. Every setting given is sent; ``None`` is not sent."""

    router: str | list[str] | None = None
    """The model router(s) to use, in order of preference (``[agents] routers`` otherwise)."""
    model: str | None = None
    """Model name, or the deployment name on Azure OpenAI."""
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    max_tokens: Annotated[int, msgspec.Meta(gt=0)] | None = None

    def routers(self) -> tuple[str, ...]:
        if self.router is None:
            return ()
        return (self.router,) if isinstance(self.router, str) else tuple(self.router)


class HandoffSpec(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Another agent this one may hand the call to."""

    to: Name
    when: str = ""
    """When to hand off, for the LLM (becomes the handoff tool's description)."""
    examples: list[str] = msgspec.field(default_factory=list)
    """What a caller says when this handoff is right, for the offline flow engine."""


class IntentSpec(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Something a caller may ask at any point: answered from a template, or by calling a tool
    first and answering from its result (``result`` in the template)."""

    examples: list[str]
    """Ways a caller puts it (the offline flow engine matches against these)."""
    say: Template = ""
    """What the agent answers; with ``tool``, rendered after it with ``result``."""
    tool: Name | None = None
    arguments: dict[str, Template] = msgspec.field(default_factory=dict)
    """The tool's arguments, each a template over the call's context (``fields``...)."""
    name: str = ""
    """A label for events and logs; defaults to the first example."""


class Validation(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pattern: str | None = None
    """A regular expression the whole value must match (text, digits, zip, phone)."""
    min: float | None = None
    max: float | None = None
    """Bounds of a number (integer), or of a year (vehicle)."""
    length: Annotated[int, msgspec.Meta(gt=0)] | None = None
    """Exact number of digits (digits)."""
    past: bool | None = None
    """A date or time that must be in the past (true) or in the future (false)."""


class FieldSpec(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One value the agent collects."""

    name: Name
    type: FieldType = "text"
    ask: Template = ""
    """The question that asks for it."""
    required: bool = True
    choices: list[str] = msgspec.field(default_factory=list)
    """For ``choice``: the options."""
    options: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """For ``choice``: options with the other words callers use for them; for ``yes_no``: extra
    phrases under ``yes`` and ``no`` (``no: [towed]`` for "is the car drivable?")."""
    aliases: list[str] = msgspec.field(default_factory=list)
    """Words a caller uses to name the field ("zip", "zip code"): they bind a value given out
    of turn ("the driver was Jane") and name what a correction changes."""
    counts_caller: bool = True
    """For a ``count`` of people: whether "just me" counts the caller (1) or not (0)."""
    validation: Validation | None = None
    confirm: bool = False
    """Read the value back and ask the caller to confirm it."""
    when: str | None = None
    """Ask only when this other yes_no field is true (for example injury details)."""
    prefill: str | None = None
    """A call field whose value, when known, fills this one without asking (the verified
    caller's name for the claim's caller name)."""
    choices_from: str | None = None
    """A call field holding the options a tool found (the policy's vehicles, for ``vehicle``)."""
    describe: str = ""
    """What the field means, for the LLM's tool schema."""
    options_say: Template = ""
    """Said by the offline engine with the question again when an answer gave none of this
    field's options (a ``choice``, or one with ``choices_from``); ``options`` in the template is
    them joined with "or". Empty: the agent's ``phrases.options``."""


class FormSpec(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The fields to collect, and what to do with them."""

    fields: list[FieldSpec]
    tool: Name | None = None
    """Called with every collected field once the form is complete (and confirmed)."""
    confirm: Template = ""
    """A summary read back before calling ``tool``; empty: no confirmation."""
    done: Template = ""
    """Said after ``tool`` succeeded (``result`` holds what it returned)."""
    failed: Template = ""
    """Said when ``tool`` failed (``result`` holds the error)."""
    attempts: Annotated[int, msgspec.Meta(ge=1)] = 3
    """Failed tool calls before escalating (``escalate`` below) or giving up."""
    escalate: Name | None = None
    """Tool called once ``attempts`` failures have happened (a human takes over)."""
    alternatives: list[list[Name]] = msgspec.field(default_factory=list)
    """Groups of fields, any one of which completes the form instead of every required field
    (full name and ZIP code, or the last four digits of the policy)."""
    gate: bool = False
    """The form must be complete (its tool succeeded) before the agent hands the call on or
    answers questions: caller verification. A wish expressed earlier is acted on afterwards."""


class Phrases(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the offline engine says in its own words (Jinja templates over the call's context,
    plus the names given below); an agent changes any of them, the rest keep these defaults."""

    missed: Template = "Sorry, I didn't catch that."
    """An answer that gave nothing for the question asked (the question follows)."""
    got_it: Template = "Got it."
    """An answer understood (the next question follows)."""
    skipped: Template = "No problem."
    """An optional field the caller could not answer."""
    options: Template = "The options are {{ options }}."
    """After ``missed``, for a field with options (see ``FieldSpec.options_say``)."""
    ask_field: Template = "What is the {{ field }}?"
    """The question of a field that has no ``ask`` (``field``: its name, in words)."""
    ask_time: Template = "And at about what time?"
    ask_day: Template = "And on what day?"
    """Asked for the other half of a date and time heard in half."""
    check_value: Template = "I have {{ value }}. Is that right?"
    """A field with ``confirm`` read back (``value``: as spoken)."""
    invalid: Template = "Sorry, {{ problem }}."
    """A value its validation refused (``problem``: why, e.g. "that is in the future")."""
    corrected: Template = "Thanks, I've corrected that."
    """Before the read-back again, once the caller corrected it."""
    what_to_correct: Template = "Sorry about that. What should I correct?"
    """The caller said the read-back was wrong without saying what."""
    which_detail: Template = "Which detail should I change?"
    """The answer to ``what_to_correct`` named nothing the engine could change."""
    yes_or_no: Template = "Is everything correct? Please say yes or no."
    """The answer to the read-back was neither."""
    later: Template = "I can help with that in a moment."
    """A handoff asked for before a ``gate`` form is done (made once it is)."""
    lookup_failed: Template = "Sorry, I couldn't look that up right now."
    """A knowledge entry's tool failed."""
    tool_failed: Template = "Sorry, that didn't work."
    """The form's tool failed and the form has no ``failed`` template."""


class AgentDefinition(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    description: str = ""
    greeting: Template = ""
    """Said when the agent first takes the call (and at the call's start for a start agent)."""
    return_greeting: Template = ""
    """Said when the call comes back to the agent after a visit to another one."""
    voice: VoiceSpec | None = None
    model: ModelSettings = msgspec.field(default_factory=ModelSettings)
    prompt: str = ""
    """The system prompt: a Jinja template file, relative to the plugin's agent folder."""
    tools: list[Name] = msgspec.field(default_factory=list)
    handoffs: list[HandoffSpec] = msgspec.field(default_factory=list)
    form: FormSpec | None = None
    knowledge: list[IntentSpec] = msgspec.field(default_factory=list)
    escalations: list[IntentSpec] = msgspec.field(default_factory=list)
    """Intents that hand the call to a human (each names its tool); one named ``emergency`` is
    also recognised from any words of injury and danger."""
    fallback: Template = ""
    """What the offline engine says when it understood nothing it can act on."""
    phrases: Phrases = msgspec.field(default_factory=Phrases)
    """The offline engine's own words, for a vertical's tone or language."""
    source: str = ""
    """The file it was read from (set by the loader)."""


class HandoffEdge(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A handoff allowed in a scenario, and how it is done."""

    to: Name
    from_: Name | None = msgspec.field(default=None, name="from")
    """The agent handing off; empty: any member."""
    type: Literal["announced", "discrete"] = "announced"
    """``announced``: the new agent says its greeting; ``discrete``: it just answers."""
    context: Literal["share", "reset", "summary"] = "share"
    """What the new agent sees: the whole conversation, only the caller's last words, or a
    summary of what was collected plus the caller's last words."""


class ScenarioDefinition(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    description: str = ""
    start: Name
    agents: list[Name]
    handoffs: list[HandoffEdge] = msgspec.field(default_factory=list)
    source: str = ""

    def edge(self, source: str, target: str) -> HandoffEdge:
        """How ``source`` hands off to ``target`` here (an announced, shared handoff by default)."""
        for edge in self.handoffs:
            if edge.to == target and edge.from_ in (None, source):
                return edge
        return HandoffEdge(to=target, from_=source)


_CLEAN_PATH = re.compile(r"\[(\d+)\]")


def decode_yaml(text: str, schema: type[Any], source: str | Path) -> Any:
    """Decode one YAML document into ``schema``; errors name ``source`` and the key."""
    where = str(source)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise DefinitionError(where, "", f"{line}not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise DefinitionError(where, "", "expected a mapping of keys at the top level")
    raw.setdefault("source", where)
    try:
        return msgspec.convert(raw, schema)
    except msgspec.ValidationError as exc:
        issue = issue_from_validation(exc)
        raise DefinitionError(where, issue.path, issue.message) from None
