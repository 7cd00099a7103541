"""Reading one form field, or several, from what the caller said.

A field is read in one of two modes. *Asked* (``expected=True``: the question just put was
about it) accepts a bare answer: "three" for a time, "Jane" for a name, "yes". *Out of turn*
(another field was asked) accepts only what names itself: a date, a street address, a policy
vehicle, a ZIP code, a count next to one of the field's nouns ("two cars"), an option's
synonym, or a value right after one of the field's ``aliases`` ("the driver was Jane").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from artagent_flows.extract.addresses import read_address
from artagent_flows.extract.choices import read_choice
from artagent_flows.extract.counts import read_count
from artagent_flows.extract.dates import read_date
from artagent_flows.extract.digits import read_digits, read_zip
from artagent_flows.extract.names import read_name
from artagent_flows.extract.numbers import number_runs
from artagent_flows.extract.spec import Address, ExtractContext, Extraction, FieldLike, Value
from artagent_flows.extract.states import read_state
from artagent_flows.extract.times import read_time
from artagent_flows.extract.tokens import Token, content, find_phrase, phrase_tuple, texts, tokenize
from artagent_flows.extract.vehicles import read_vehicle
from artagent_flows.extract.yesno import YesNo, is_unsure, read_yes_no


@dataclass(frozen=True, slots=True)
class Turn:
    """What a reader reads: the tokens (maybe only those after an alias), the whole utterance,
    the call's context, and whether a bare answer counts (the field was asked)."""

    tokens: Sequence[Token]
    utterance: str
    ctx: ExtractContext
    bare: bool


Reader = Callable[[FieldLike, Turn], Extraction | None]
_LINKS = frozenset(
    {"is", "was", "are", "were", "'s", "be", "should", "of", "it's", "number", "actually", ":"}
)
_CLAUSE_ENDS = frozenset({"and", "but", ",", ".", ";", "?", "!", "so", "then"})
_FILLER_TEXT = re.compile(r"\b(?:um+|uh+|uhm|erm?|ah|hmm)\b[,.]?\s*", re.IGNORECASE)
# Types that read their aliases themselves (nouns after a count, the topic of a yes/no).
_OWN_ALIASES = frozenset({"count", "yes_no"})
# Types whose alias must be followed by a linking word: "the driver was Jane", not "the driver ran".
_NEEDS_LINK = frozenset({"name", "text", "city", "choice", "integer"})
# Types whose values name themselves, so they are read anywhere in an answer.
SELF_EVIDENT = frozenset(
    {"date", "time", "datetime", "zip", "address", "street", "state", "vehicle", "choice"}
)


def _result(field: FieldLike, value: Value, span: tuple[int, int], confidence: float) -> Extraction:
    return Extraction(field=field.name, value=value, span=span, confidence=confidence)


def _text(field: FieldLike, turn: Turn) -> Extraction | None:
    words = content(turn.tokens)
    if not turn.bare or not words or (is_unsure(words) and len(words) <= 5):
        return None
    span = (words[0].start, words[-1].end)
    value = _FILLER_TEXT.sub("", turn.utterance[span[0] : span[1]]).strip(" ,.")
    return _result(field, value, span, 0.9) if len(value) >= 2 else None


def _name(field: FieldLike, turn: Turn) -> Extraction | None:
    read = read_name(turn.tokens) if turn.bare else None
    if read is None:
        return None
    if read.is_self:
        return (
            _result(field, turn.ctx.caller_name, read.span, read.confidence) if turn.ctx.caller_name else None
        )
    return _result(field, read.value, read.span, read.confidence)


def _digits(field: FieldLike, turn: Turn) -> Extraction | None:
    read = read_digits(turn.tokens, field.length) if turn.bare else None
    return _result(field, read.digits, read.span, read.confidence) if read else None


def _zip(field: FieldLike, turn: Turn) -> Extraction | None:
    read = read_zip(turn.tokens)
    return _result(field, read.digits, read.span, read.confidence) if read else None


def _date(field: FieldLike, turn: Turn) -> Extraction | None:
    read = read_date(turn.tokens, turn.utterance, turn.ctx.now)
    return _result(field, read.value, read.span, read.confidence) if read else None


def _time(field: FieldLike, turn: Turn) -> Extraction | None:
    read = read_time(turn.tokens, bare=turn.bare)
    if read is not None:
        return _result(field, read.value, read.span, read.confidence)
    moment = read_date(turn.tokens, turn.utterance, turn.ctx.now)
    if moment is not None and moment.moment is not None:
        return _result(field, moment.moment.timetz().replace(tzinfo=None), moment.span, moment.confidence)
    return None


def _datetime(field: FieldLike, turn: Turn) -> Extraction | None:
    day = read_date(turn.tokens, turn.utterance, turn.ctx.now)
    if day is None:
        return None
    if day.moment is not None:
        return _result(field, day.moment, day.span, day.confidence)
    clock = read_time(turn.tokens, bare=turn.bare)
    if clock is None:
        return None
    value = datetime.combine(day.value, clock.value, tzinfo=turn.ctx.now.tzinfo)
    span = (min(day.span[0], clock.span[0]), max(day.span[1], clock.span[1]))
    return _result(field, value, span, min(day.confidence, clock.confidence))


def _yes_no(field: FieldLike, turn: Turn) -> Extraction | None:
    yes, no = field.options.get("yes", ()), field.options.get("no", ())
    read = (
        read_yes_no(turn.tokens, yes=yes, no=no) if turn.bare else _out_of_turn(field, turn.tokens, yes, no)
    )
    return _result(field, read.value, read.span, read.confidence) if read else None


def _out_of_turn(
    field: FieldLike, tokens: Sequence[Token], yes: Sequence[str], no: Sequence[str]
) -> YesNo | None:
    """Out of turn: the field's own phrases ("it got towed"), or a yes/no in the clause that
    names the field ("... and nobody was hurt" for injuries)."""
    own = read_yes_no(tokens, yes=yes, no=no, own_only=True) if yes or no else None
    clause = alias_clause(field, tokens) if own is None else None
    return own or (read_yes_no(clause) if clause else None)


def _choice(field: FieldLike, turn: Turn) -> Extraction | None:
    read = read_choice(turn.tokens, field.options, fuzzy=turn.bare)
    return _result(field, read.value, read.span, read.confidence) if read else None


def _count(field: FieldLike, turn: Turn) -> Extraction | None:
    nouns = [w for alias in field.aliases for w in phrase_tuple(alias)]
    read = read_count(turn.tokens, counts_caller=field.counts_caller, nouns=nouns, bare=turn.bare)
    return _result(field, read.value, read.span, read.confidence) if read else None


def _integer(field: FieldLike, turn: Turn) -> Extraction | None:
    runs = [r for r in number_runs(content(turn.tokens)) if r.value is not None and not r.ordinal]
    if not turn.bare or len(runs) != 1 or runs[0].value is None:
        return None
    return _result(field, runs[0].value, runs[0].span, 0.9)


def _address(field: FieldLike, turn: Turn) -> Extraction | None:
    read = read_address(turn.tokens, bare=turn.bare)
    if read is None:
        return None
    if not turn.bare and read.value.street is None and read.value.zip is None:
        return None  # out of turn, "in traffic" is no city
    return _result(field, read.value, read.span, read.confidence)


def _part(name: str) -> Reader:
    """A reader for one part of an address (street, city), as its own field."""

    def reader(field: FieldLike, turn: Turn) -> Extraction | None:
        read = read_address(turn.tokens, bare=turn.bare)
        value = getattr(read.value, name) if read else None
        if read is None or value is None or (name == "city" and not turn.bare and read.value.street is None):
            return None
        return _result(field, value, read.span, read.confidence)

    return reader


def _state(field: FieldLike, turn: Turn) -> Extraction | None:
    read = read_state(turn.tokens, bare=turn.bare)
    return _result(field, read.code, read.span, read.confidence) if read else None


def _vehicle(field: FieldLike, turn: Turn) -> Extraction | None:
    read = read_vehicle(turn.tokens, policy=turn.ctx.vehicles, latest_year=turn.ctx.now.year + 1)
    if read is None or (not turn.bare and read.value.make is None and read.value.model is None):
        return None
    return Extraction(
        field=field.name,
        value=read.value,
        span=read.span,
        confidence=read.confidence,
        alternatives=read.alternatives,
    )


READERS: dict[str, Reader] = {
    "text": _text, "name": _name, "digits": _digits, "zip": _zip, "date": _date, "time": _time,
    "datetime": _datetime, "yes_no": _yes_no, "choice": _choice, "count": _count, "integer": _integer,
    "address": _address, "street": _part("street"), "city": _part("city"), "state": _state,
    "vehicle": _vehicle,
}  # fmt: skip


def extract(
    field: FieldLike, utterance: str, *, context: ExtractContext, expected: bool = True
) -> Extraction | None:
    """The value of ``field`` in ``utterance``, or ``None`` when the caller did not give one.

    ``expected``: the question just asked was about this field (bare answers count).
    """
    reader = READERS.get(field.type)
    if reader is None:
        raise ValueError(
            f"field {field.name!r}: unknown type {field.type!r} (known: {', '.join(sorted(READERS))})"
        )
    tokens = tokenize(utterance)
    whole = expected or field.type in SELF_EVIDENT or (field.type in _OWN_ALIASES and bool(field.aliases))
    if whole and field.type in SELF_EVIDENT:
        found = reader(field, Turn(tokens, utterance, context, expected))
        return found or extract_after_alias(field, utterance, context=context)
    found = extract_after_alias(field, utterance, context=context)
    if found is None and whole:
        found = reader(field, Turn(tokens, utterance, context, expected))
    return found


def extract_after_alias(field: FieldLike, utterance: str, *, context: ExtractContext) -> Extraction | None:
    """The field's value right after one of its aliases ("the driver was Jane"), if there is one."""
    if field.type in _OWN_ALIASES:
        return None
    cued = _after_alias(field, tokenize(utterance))
    return READERS[field.type](field, Turn(cued, utterance, context, True)) if cued else None


def _after_alias(field: FieldLike, tokens: Sequence[Token]) -> tuple[Token, ...] | None:
    """The tokens after the last mention of the field ("... the zip is 98052"), if any."""
    words = texts(tokens)
    best = -1
    for alias in field.aliases:
        phrase = texts(tokenize(alias))
        i = find_phrase(words, phrase)
        while i >= 0:
            best = max(best, i + len(phrase))
            i = find_phrase(words, phrase, i + 1)
    if best < 0:
        return None
    start = best
    while best < len(tokens) and (tokens[best].text in _LINKS or tokens[best].kind == "punct"):
        best += 1
    if best == start and field.type in _NEEDS_LINK:
        return None
    return tuple(tokens[best:]) if best < len(tokens) else None


def alias_clause(field: FieldLike, tokens: Sequence[Token]) -> tuple[Token, ...] | None:
    """The clause that mentions the field ("... and nobody was hurt"), between "and"s or commas."""
    words = texts(tokens)
    for alias in field.aliases:
        i = find_phrase(words, texts(tokenize(alias)))
        if i < 0:
            continue
        start, end = i, i
        while start > 0 and words[start - 1] not in _CLAUSE_ENDS:
            start -= 1
        while end + 1 < len(words) and words[end + 1] not in _CLAUSE_ENDS:
            end += 1
        return tuple(tokens[start : end + 1])
    return None


def address_parts(value: Address) -> dict[str, str]:
    """The parts of an address that were given, by name (for forms that store them apart)."""
    parts = {"street": value.street, "city": value.city, "state": value.state, "zip": value.zip}
    return {k: v for k, v in parts.items() if v}
