"""The shapes the extraction library reads and returns: field specs, context, values, results.

The flows engine reads its fields from an agent's YAML ``form``; any object with the attributes
of :class:`FieldLike` will do, so the schema's own Struct can be passed as it is. :class:`FieldSpec`
is a ready-made one (used by the tests, and a template for the schema).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Protocol, TypeAlias, get_args

import msgspec
from artagent.agents.definitions import FieldType as FieldType

# The field types are the agent schema's (core): one list, so a type added there is one the
# library must read (its table test fails until it does).
FIELD_TYPES: frozenset[str] = frozenset(get_args(FieldType))


class Address(msgspec.Struct, frozen=True, kw_only=True):
    """A street address as far as the caller gave it; missing parts are ``None``."""

    street: str | None = None
    city: str | None = None
    state: str | None = None  # two-letter USPS code, "WA"
    zip: str | None = None  # five digits


class Vehicle(msgspec.Struct, frozen=True, kw_only=True):
    """A vehicle: from the policy (all parts known) or as described (any part may be missing)."""

    make: str | None = None
    model: str | None = None
    year: int | None = None


Value: TypeAlias = str | int | bool | date | time | datetime | Address | Vehicle


class FieldLike(Protocol):
    """What extraction needs to know about a form field.

    ``type`` is one of :data:`FieldType`. ``length`` is the digit count of a ``digits`` field
    (``None``: any length from 2 on). ``options`` maps each option of a ``choice`` field to its
    synonyms (for ``yes_no``: extra phrases under the keys ``"yes"`` and ``"no"``, such as
    ``"towed"`` for "is the car drivable?"). ``aliases`` are the words a caller uses to name the
    field ("zip", "zip code"): they bind a value given out of turn ("the driver was Jane") and
    name the target of a correction. ``counts_caller``: for a ``count`` of people, whether
    "just me" counts the caller (people in the car: 1) or not (passengers: 0).
    """

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def length(self) -> int | None: ...
    @property
    def options(self) -> Mapping[str, Sequence[str]]: ...
    @property
    def aliases(self) -> Sequence[str]: ...
    @property
    def counts_caller(self) -> bool: ...


class FieldSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A form field as extraction sees it (see :class:`FieldLike` for each attribute)."""

    name: str
    type: FieldType
    length: int | None = None
    options: dict[str, list[str]] = msgspec.field(default_factory=dict)
    aliases: list[str] = msgspec.field(default_factory=list)
    counts_caller: bool = True


class ExtractContext(msgspec.Struct, frozen=True, kw_only=True):
    """What the call knows that understanding depends on.

    ``now`` must be timezone-aware: relative dates ("yesterday") resolve against it and dates,
    times and datetimes come back in its timezone. ``vehicles`` are the policy's vehicles that a
    ``vehicle`` answer is matched against (empty: the answer is read on its own). ``caller_name``
    is what "it was me" means for a name field such as the driver.
    """

    now: datetime
    vehicles: tuple[Vehicle, ...] = ()
    caller_name: str | None = None

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("ExtractContext.now must be timezone-aware")


class Extraction(msgspec.Struct, frozen=True, kw_only=True):
    """One value understood from an utterance.

    ``span`` is the ``(start, end)`` character range of the utterance the value was read from
    (``utterance[start:end]``). ``confidence`` is in (0, 1]: 0.9 and above is a clear answer,
    below 0.7 is worth confirming. ``alternatives`` lists other values the words fit equally
    well (two Hondas on the policy for "my Honda"): the engine should ask which one.
    """

    field: str
    value: Value
    confidence: float
    span: tuple[int, int]
    alternatives: tuple[Value, ...] = ()


class Correction(msgspec.Struct, frozen=True, kw_only=True):
    """A caller changing a value already collected ("actually the ZIP is 98052")."""

    field: str
    value: Value
    extraction: Extraction
    previous: Value | None = None


class IntentMatch(msgspec.Struct, frozen=True, kw_only=True):
    """The intent an utterance matched, its score in [0, 1] and the example it matched best."""

    name: str
    score: float
    example: str
