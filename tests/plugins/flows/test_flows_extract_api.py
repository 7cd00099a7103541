"""The flows plugin is discovered, and its understanding API behaves as the flow engine needs."""

from __future__ import annotations

import importlib.metadata as md
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from artagent.plugins import PluginHost
from artagent_flows.extract import (
    Address,
    ExtractContext,
    FieldSpec,
    Vehicle,
    detect_yes_no,
    extract,
    extract_many,
    match_intent,
    match_name,
    read_confirmation,
)

NOW = datetime(2026, 3, 12, 10, 30, tzinfo=ZoneInfo("America/Los_Angeles"))
CIVIC = Vehicle(make="Honda", model="Civic", year=2019)
ACCORD = Vehicle(make="Honda", model="Accord", year=2016)
CTX = ExtractContext(now=NOW, vehicles=(CIVIC, ACCORD), caller_name="John Smith")


def test_the_plugin_is_discovered_through_its_entry_point() -> None:
    points = {ep.name: ep for ep in md.entry_points(group="artagent")}
    assert points["flows"].value == "artagent_flows.hooks"
    host = PluginHost()
    host.load_entry_points()
    assert "flows" not in {f.name for f in host.failures}
    assert host.plugins["flows"].distribution == "artagent-flows"


def test_an_unknown_field_type_is_an_error_naming_the_field() -> None:
    class Odd:
        name, type, length, options, aliases, counts_caller = "colour", "colour", None, {}, [], True

    with pytest.raises(ValueError, match=r"field 'colour': unknown type 'colour' \(known: address"):
        extract(Odd(), "blue", context=CTX)


def test_the_clock_must_carry_a_timezone() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ExtractContext(now=datetime(2026, 3, 12, 10, 30))


def test_relative_dates_follow_the_clock_and_its_timezone() -> None:
    """The same words at the same instant are another day in Tokyo than in Seattle."""
    field = FieldSpec(name="when", type="datetime")
    tokyo = ExtractContext(now=NOW.astimezone(ZoneInfo("Asia/Tokyo")))
    seattle = extract(field, "yesterday at 3 pm", context=CTX)
    there = extract(field, "yesterday at 3 pm", context=tokyo)
    assert seattle is not None and seattle.value == datetime(2026, 3, 11, 15, 0, tzinfo=NOW.tzinfo)
    assert there is not None and there.value == datetime(2026, 3, 12, 15, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    utc = extract(field, "an hour ago", context=ExtractContext(now=NOW.astimezone(UTC)))
    assert utc is not None and utc.value == datetime(2026, 3, 12, 16, 30, tzinfo=UTC)


def test_a_bare_answer_counts_only_for_the_field_that_was_asked() -> None:
    when = FieldSpec(name="loss_time", type="time")
    assert extract(when, "three", context=CTX, expected=True) is not None
    assert extract(when, "three", context=CTX, expected=False) is None
    assert extract(FieldSpec(name="n", type="name"), "Jane", context=CTX, expected=False) is None


def test_the_span_is_the_words_the_value_was_read_from() -> None:
    say = "um so my zip is nine eight zero five two thanks"
    got = extract(FieldSpec(name="zip", type="zip"), say, context=CTX)
    assert got is not None and say[got.span[0] : got.span[1]] == "nine eight zero five two"


def test_two_policy_vehicles_that_fit_come_back_as_alternatives_to_ask_between() -> None:
    got = extract(FieldSpec(name="vehicle", type="vehicle"), "my Honda", context=CTX)
    assert got is not None and {got.value, *got.alternatives} == {CIVIC, ACCORD}
    assert got.confidence < 0.7  # worth asking which
    sure = extract(FieldSpec(name="vehicle", type="vehicle"), "the accord", context=CTX)
    assert sure is not None and sure.value == ACCORD and sure.alternatives == ()


def test_a_no_that_carries_a_new_value_corrects_instead_of_answering() -> None:
    fields = [FieldSpec(name="loss_date", type="date"), FieldSpec(name="drivable", type="yes_no")]
    collected = {"loss_date": date(2026, 3, 9)}
    got = extract_many(fields, "no, it was Tuesday", context=CTX, expected="drivable", collected=collected)
    assert {k: e.value for k, e in got.items()} == {"loss_date": date(2026, 3, 10)}
    plain = extract_many(fields, "no", context=CTX, expected="drivable", collected=collected)
    assert {k: e.value for k, e in plain.items()} == {"drivable": False}


def test_a_read_back_is_confirmed_denied_or_corrected() -> None:
    fields = [FieldSpec(name="loss_time", type="time", aliases=["time"]), FieldSpec(name="zip", type="zip")]
    collected = {"loss_time": time(15, 0), "zip": "98052"}
    assert read_confirmation("yep that's right", fields, collected, context=CTX).kind == "confirmed"
    assert read_confirmation("no", fields, collected, context=CTX).kind == "denied"
    assert read_confirmation("hmm what", fields, collected, context=CTX).kind == "unclear"
    fixed = read_confirmation("no the time was four pm", fields, collected, context=CTX)
    assert fixed.kind == "corrected"
    changes = [(c.field, c.value, c.previous) for c in fixed.corrections]
    assert changes == [("loss_time", time(16, 0), time(15, 0))]


def test_yes_no_tells_where_the_answer_ends() -> None:
    said = detect_yes_no("no, it was on Pine Street")
    assert said is not None and said.value is False and said.span == (0, 2)
    assert detect_yes_no("no idea") is None


def test_the_name_heard_is_matched_to_the_policyholder_by_spelling_and_sound() -> None:
    known = ["John Smith", "Jane Doe", "Joan Smithers"]
    assert match_name("Jon Smyth", known) == ("John Smith", pytest.approx(0.98, abs=0.02))
    assert match_name("Katherine Lee", ["Catherine Lee", "Kathy Li"])[0] == "Catherine Lee"  # type: ignore[index]
    assert match_name("Robert Brown", known) is None


def test_an_intent_tie_is_no_match() -> None:
    intents = {"a": ["my car"], "b": ["my car"]}
    assert match_intent("my car", intents) is None
    assert match_intent("my car", {"a": ["my car"]}) is not None


def test_address_parts_merge_when_a_correction_gives_only_some() -> None:
    field = FieldSpec(name="location", type="address")
    collected = {"location": Address(street="Main Street", city="Seattle", state="WA")}
    fixed = read_confirmation("sorry, it was in Bellevue", [field], collected, context=CTX)
    merged = Address(street="Main Street", city="Bellevue", state="WA")
    assert [c.value for c in fixed.corrections] == [merged]
