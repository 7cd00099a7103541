"""The understanding library against tables of what callers say (tables/*.yaml).

Each row is an utterance as a caller says it and as faster-whisper tiny.en writes it (digits or
words, no punctuation, "um"), and the exact value that must be read, or none. The clock is fixed:
Thursday 12 March 2026, 10:30 in Seattle; the policy has a 2019 Honda Civic and a 2021 Toyota
Camry.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from artagent_flows.extract import (
    Address,
    ExtractContext,
    FieldSpec,
    Value,
    Vehicle,
    detect_correction,
    detect_emergency,
    extract,
    extract_many,
    match_intent,
)

TABLES = Path(__file__).parent / "tables"
SEATTLE = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 3, 12, 10, 30, tzinfo=SEATTLE)
CIVIC = Vehicle(make="Honda", model="Civic", year=2019)
CAMRY = Vehicle(make="Toyota", model="Camry", year=2021)
CONTEXTS = {
    "policy": ExtractContext(now=NOW, vehicles=(CIVIC, CAMRY), caller_name="John Smith"),
    "no_policy": ExtractContext(now=NOW),
}
F = FieldSpec
FNOL = [
    F(name="caller_name", type="name", aliases=["my name"]),
    F(name="driver_name", type="name", aliases=["driver"]),
    F(name="vehicle", type="vehicle", aliases=["car", "vehicle"]),
    F(name="vehicles_involved", type="count", aliases=["car", "cars", "vehicle", "vehicles"]),
    F(name="description", type="text"),
    F(name="loss_date", type="date", aliases=["date", "day"]),
    F(name="loss_time", type="time", aliases=["time"]),
    F(name="location", type="address", aliases=["address", "location"]),
    F(name="loss_zip", type="zip", aliases=["zip", "zip code"]),
    F(
        name="drivable",
        type="yes_no",
        options={"yes": ["drivable", "drove it home"], "no": ["towed", "totaled", "not drivable"]},
    ),
    F(name="passengers", type="count", aliases=["passenger", "passengers"], counts_caller=False),
    F(name="injuries", type="yes_no", aliases=["injuries", "injured", "hurt"]),
    F(
        name="trip_purpose",
        type="choice",
        options={
            "commute": ["commuting", "to work", "from work", "commute"],
            "business": ["for work", "business", "client", "work trip"],
            "personal": ["errand", "errands", "shopping", "personal"],
            "rideshare": ["uber", "lyft", "rideshare", "ride share"],
        },
    ),
]
AUTH = [
    F(name="caller_name", type="name", aliases=["my name"]),
    F(name="zip", type="zip", aliases=["zip", "zip code"]),
    F(name="policy_last4", type="digits", length=4, aliases=["last four", "policy"]),
]
SINGLE = {f.name: f for f in FNOL + AUTH} | {
    f.name: f
    for f in (
        F(name="phone", type="digits", length=10),
        F(name="loss_datetime", type="datetime"),
        F(name="loss_state", type="state"),
        F(name="loss_city", type="city"),
        F(name="confirm", type="yes_no"),
        F(name="people_in_car", type="count", aliases=["people"]),
    )
}
FORMS = {"fnol": FNOL, "auth": AUTH}
COLLECTED: dict[str, Value] = {
    "caller_name": "John Smith",
    "vehicle": CIVIC,
    "loss_date": date(2026, 3, 9),
    "loss_time": time(15, 0),
    "location": Address(street="Main Street", city="Seattle"),
    "loss_zip": "98101",
    "passengers": 0,
}


def load(name: str) -> Any:
    return yaml.load((TABLES / name).read_text(), Loader=yaml.BaseLoader)  # every scalar a string


def typed(kind: str, raw: Any) -> Value | None:
    """A table's written value as the library returns it, for a field of this type."""
    if raw == "null":
        return None
    if kind == "date":
        return date.fromisoformat(raw)
    if kind == "time":
        return time.fromisoformat(raw)
    if kind == "datetime":
        return datetime.fromisoformat(raw).replace(tzinfo=SEATTLE)
    if kind in ("count", "integer"):
        return int(raw)
    if kind == "yes_no":
        return {"true": True, "false": False}[raw]
    if kind == "address":
        return Address(**{k: (None if v == "null" else v) for k, v in raw.items()})
    if kind == "vehicle":
        year = int(raw["year"]) if "year" in raw else None
        return Vehicle(make=raw.get("make"), model=raw.get("model"), year=year)
    assert isinstance(raw, str)
    return raw


def single_rows() -> Iterator[Any]:
    tables = "digits dates times datetimes names addresses yes_no choices vehicles counts callers"
    for table in tables.split():
        for section in load(f"{table}.yaml"):
            for say, expect in section["rows"]:
                ctx = section.get("context", "policy")
                yield pytest.param(section["field"], say, expect, ctx, id=f"{table}:{section['field']}:{say}")


@pytest.mark.parametrize(("field", "say", "expect", "ctx"), list(single_rows()))
def test_one_field_is_read_from_an_answer(field: str, say: str, expect: Any, ctx: str) -> None:
    spec = SINGLE[field]
    got = extract(spec, say, context=CONTEXTS[ctx], expected=True)
    want = typed(spec.type, expect)
    assert (got.value if got else None) == want
    if got is not None:
        start, end = got.span
        assert 0 <= start < end <= len(say) and say[start:end].strip() == say[start:end]
        assert 0 < got.confidence <= 1


def many_rows() -> Iterator[Any]:
    for section in load("many.yaml"):
        for row in section["rows"]:
            yield pytest.param(section["form"], row["say"], row["asked"], row["expect"], id=row["say"])


@pytest.mark.parametrize(("form", "say", "asked", "expect"), list(many_rows()))
def test_several_fields_are_read_from_one_answer(
    form: str, say: str, asked: str, expect: Mapping[str, Any]
) -> None:
    fields = FORMS[form]
    kinds = {f.name: f.type for f in fields}
    got = extract_many(fields, say, context=CONTEXTS["policy"], expected=asked)
    assert {name: e.value for name, e in got.items()} == {k: typed(kinds[k], v) for k, v in expect.items()}
    spans = sorted(e.span for name, e in got.items() if kinds[name] != "text")
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), "a span was used twice"


def correction_rows() -> Iterator[Any]:
    for section in load("corrections.yaml"):
        for say, expect in section["rows"]:
            yield pytest.param(say, expect, id=say)


@pytest.mark.parametrize(("say", "expect"), list(correction_rows()))
def test_corrections_change_the_field_the_caller_means(say: str, expect: Any) -> None:
    got = detect_correction(say, FNOL, COLLECTED, context=CONTEXTS["policy"])
    if expect == "null":
        assert got is None
        return
    field, value = expect
    assert got is not None and (got.field, got.value) == (field, typed(SINGLE[field].type, value))
    assert got.previous == COLLECTED[field]


INTENTS = load("intents.yaml")


@pytest.mark.parametrize(("say", "expect"), [pytest.param(s, e, id=s) for s, e in INTENTS["rows"]])
def test_intents_are_matched_from_their_examples(say: str, expect: str) -> None:
    got = match_intent(say, INTENTS["intents"])
    assert (got.name if got else "null") == expect


@pytest.mark.parametrize(("say", "expect"), [pytest.param(s, e, id=s) for s, e in INTENTS["emergencies"]])
def test_emergencies_are_recognised_and_denials_are_not(say: str, expect: str) -> None:
    assert (detect_emergency(say) is not None) == (expect == "true")
