"""Several fields in one answer: "it was yesterday at 3 pm on Main Street in Seattle, my 2020
Honda Civic" fills the loss date, time, location and vehicle at once.

Fields are read one after another, each on the words the previous ones left: the field just
asked first, then the types whose values are least ambiguous (a policy vehicle, an address, a
date). Once "2020" is the vehicle's year it cannot also be a count, and once "98052" is the
address's ZIP it is not a policy number. Free text is read last, from the whole answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from artagent_flows.extract.corrections import detect_correction
from artagent_flows.extract.fields import SELF_EVIDENT, extract, extract_after_alias
from artagent_flows.extract.spec import ExtractContext, Extraction, FieldLike, Value
from artagent_flows.extract.tokens import mask

PRIORITY = (
    "vehicle", "address", "datetime", "date", "time", "zip", "street", "state", "city", "choice",
    "count", "digits", "integer", "name", "yes_no",
)  # fmt: skip


def _rank(field: FieldLike) -> int:
    return PRIORITY.index(field.type) if field.type in PRIORITY else len(PRIORITY)


def extract_many(
    fields: Sequence[FieldLike],
    utterance: str,
    *,
    context: ExtractContext,
    expected: str | None = None,
    collected: Mapping[str, Value] | None = None,
) -> dict[str, Extraction]:
    """Every field of ``fields`` the answer gives a value for, by field name.

    ``expected`` names the field just asked. With ``collected`` (the values so far, oldest
    first), "no, it was Tuesday" to a yes/no question is a correction of the date, not a no.
    """
    found: dict[str, Extraction] = {}
    remaining = _named_out_of_turn(fields, utterance, expected, context, found)
    asked = [f for f in fields if f.name == expected and f.type != "text"]
    others = sorted((f for f in fields if f.name != expected and f.type != "text"), key=_rank)
    for field in (*asked, *others):
        if field.name in found:
            continue
        got = extract(field, remaining, context=context, expected=field.name == expected)
        if got is not None:
            found[field.name] = got
            remaining = mask(remaining, [got.span])
    text = next((f for f in fields if f.type == "text" and f.name == expected), None)
    got = extract(text, utterance, context=context, expected=True) if text else None
    if got is not None:
        found[got.field] = got
    if collected and expected is not None:
        _no_is_a_correction(found, fields, utterance, expected, collected, context)
    return found


def _named_out_of_turn(
    fields: Sequence[FieldLike],
    utterance: str,
    expected: str | None,
    context: ExtractContext,
    found: dict[str, Extraction],
) -> str:
    """Fields the caller names ("the driver was Jane" while their own name was asked) go first;
    returns the utterance without the words they took."""
    remaining = utterance
    for field in fields:
        if field.name == expected or field.type in SELF_EVIDENT or field.type == "text":
            continue
        got = extract_after_alias(field, remaining, context=context)
        if got is not None:
            found[field.name] = got
            remaining = mask(remaining, [got.span])
    return remaining


def _no_is_a_correction(
    found: dict[str, Extraction],
    fields: Sequence[FieldLike],
    utterance: str,
    expected: str,
    collected: Mapping[str, Value],
    context: ExtractContext,
) -> None:
    """ "no, it was Tuesday" to "was the car drivable?": the no belongs to the correction."""
    answer = found.get(expected)
    if answer is None or answer.value is not False:
        return
    fix = detect_correction(utterance, fields, collected, context=context)
    if fix is not None and fix.field != expected:
        del found[expected]
        found[fix.field] = fix.extraction
