"""Between an agent's form (core's schema) and the extraction library: field specs for
understanding, JSON values for the call's fields and the tools, validation, and the context
values are understood in.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from artagent.agents.definitions import FieldSpec as FormField

from artagent_flows.extract import Address, ExtractContext, Extraction, Value, Vehicle
from artagent_flows.extract import FieldSpec as UnderstoodField

__all__ = ["context_for", "from_json", "to_json", "understood", "validate"]


def understood(field: FormField) -> UnderstoodField:
    """The form field as the extraction library reads it."""
    options: dict[str, list[str]] = {choice: [] for choice in field.choices}
    options |= {k: list(v) for k, v in field.options.items()}
    length = field.validation.length if field.validation else None
    return UnderstoodField(
        name=field.name,
        type=field.type,
        length=length,
        options=options,
        aliases=list(field.aliases),
        counts_caller=field.counts_caller,
    )


def to_json(value: Value) -> Any:
    """A value as the call's fields and the tools hold it: dates and times in ISO 8601,
    addresses and vehicles as objects without their unknown parts."""
    if isinstance(value, dt.datetime | dt.time):
        return value.isoformat(timespec="minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Address | Vehicle):
        return {k: v for k, v in msgspec.structs.asdict(value).items() if v is not None}
    return value


def from_json(field: FormField, value: Any) -> Value:
    """A stored JSON value back as the library's type (what corrections compare against)."""
    try:
        if field.type == "datetime" and isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        if field.type == "date" and isinstance(value, str):
            return dt.date.fromisoformat(value)
        if field.type == "time" and isinstance(value, str):
            return dt.time.fromisoformat(value)
        if field.type == "vehicle" and isinstance(value, dict):
            return msgspec.convert(value, Vehicle)
        if field.type == "address" and isinstance(value, dict):
            return msgspec.convert(value, Address)
    except (ValueError, msgspec.ValidationError):
        pass
    return value  # type: ignore[no-any-return]


def validate(field: FormField, value: Value, now: dt.datetime) -> str | None:
    """Why ``value`` does not do for ``field`` (what the caller is told), or ``None``."""
    rule = field.validation
    if rule is None:
        return None
    text = str(value)
    if rule.pattern is not None and isinstance(value, str) and not re.fullmatch(rule.pattern, text):
        return "that does not look right"
    if rule.length is not None and isinstance(value, str) and len(re.sub(r"\D", "", text)) != rule.length:
        return f"I need {rule.length} digits"
    number = value.year if isinstance(value, Vehicle) and value.year else value
    if isinstance(number, int) and not isinstance(number, bool):
        if rule.min is not None and number < rule.min:
            return f"that is less than {rule.min:g}"
        if rule.max is not None and number > rule.max:
            return f"that is more than {rule.max:g}"
    if rule.past is not None and isinstance(value, dt.date):
        moment = (
            value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time(), now.tzinfo)
        )
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=now.tzinfo)
        if rule.past and moment > now + dt.timedelta(minutes=5):
            return "that is in the future"
        if not rule.past and moment < now:
            return "that is in the past"
    return None


def context_for(fields: Mapping[str, Any], now: dt.datetime, choices_from: Sequence[str]) -> ExtractContext:
    """What understanding needs from the call: the time, the policy's vehicles (from the call
    fields a form names in ``choices_from``), the caller's name ("it was me")."""
    vehicles: list[Vehicle] = []
    for key in choices_from:
        for item in fields.get(key) or []:
            if isinstance(item, dict):
                vehicles.append(msgspec.convert(item, Vehicle))
    caller = fields.get("caller_name")
    return ExtractContext(
        now=now, vehicles=tuple(vehicles), caller_name=caller if isinstance(caller, str) else None
    )


def spoken(extraction: Extraction) -> str:
    """A value as the agent reads it back."""
    value = extraction.value
    if isinstance(value, Vehicle):
        return " ".join(str(p) for p in (value.year, value.make, value.model) if p)
    if isinstance(value, Address):
        return ", ".join(p for p in (value.street, value.city, value.state, value.zip) if p)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return f"{value:%A, %B} {value.day} at {value:%-I:%M %p}"
    if isinstance(value, dt.date):
        return f"{value:%A, %B} {value.day}"
    return str(value)
