"""Counts: "two cars", "just me", "nobody", "me and my wife", "one other car", "three of us".

Whether the caller counts depends on the question: "just me" is one person in the car but no
passengers, which is what the field's ``counts_caller`` says. Out of turn, a number counts only
next to one of the field's nouns ("two cars" for vehicles involved), so a model year or a ZIP
code is never a count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from artagent_flows.extract.numbers import number_runs
from artagent_flows.extract.tokens import Token, content, find_phrase, phrase_list, strip_leading, texts
from artagent_flows.extract.yesno import is_unsure

MAX_COUNT = 50
_ZERO = phrase_list(
    "nobody | no one | none | zero | not any | there weren't any | no passengers | no other | nope | no"
)
_SELF = phrase_list(
    "just me | only me | just myself | only myself | me | myself | just the driver | only the driver | "
    "me alone | i was alone | i was by myself | by myself | alone"
)
_ONE = phrase_list(
    "just mine | only mine | just my car | only my car | just my vehicle | only my vehicle | single car | "
    "single vehicle | just one | only one | one car | a car | one vehicle"
)
_TWO = phrase_list("both | a couple | couple | the two of us | two of us")
_PEOPLE = frozenset(
    """wife husband son daughter mom mother dad father brother sister friend partner boyfriend
    girlfriend coworker colleague neighbor neighbour roommate cousin uncle aunt kid child baby
    passenger person guy lady man woman grandma grandpa grandmother grandfather""".split()
)
_PEOPLE_PLURAL = frozenset("kids children friends passengers people sons daughters babies".split())
_OTHER_VEHICLE = frozenset({"car", "cars", "vehicle", "vehicles", "truck", "trucks", "driver", "drivers"})


@dataclass(frozen=True, slots=True)
class CountRead:
    value: int
    span: tuple[int, int]
    confidence: float


def read_count(
    tokens: Sequence[Token], *, counts_caller: bool, nouns: Sequence[str], bare: bool
) -> CountRead | None:
    """The count in these tokens; ``bare`` (the question asked) accepts a lone number."""
    words = strip_leading(content(tokens))
    if not words or is_unsure(words):
        return None
    noun_set = frozenset(nouns)
    return (
        _with_noun(words, noun_set, counts_caller)
        or _people(words, counts_caller)
        or _other_vehicles(words)
        or (_phrases(words, counts_caller) if bare else None)
        or (_bare(words) if bare else None)
    )


def _phrases(words: Sequence[Token], counts_caller: bool) -> CountRead | None:
    text = texts(words)
    for table, value in ((_SELF, 1 if counts_caller else 0), (_ONE, 1), (_TWO, 2), (_ZERO, 0)):
        for phrase in sorted(table, key=len, reverse=True):
            i = find_phrase(text, phrase)
            if i >= 0 and (i == 0 or phrase[0] not in ("me", "no", "myself")):
                return CountRead(value, (words[i].start, words[i + len(phrase) - 1].end), 0.9)
    return None


def _with_noun(words: Sequence[Token], nouns: frozenset[str], counts_caller: bool) -> CountRead | None:
    """ "two cars", "three passengers", "no passengers", "three of us"."""
    text = texts(words)
    for run in number_runs(words):
        after = text[run.last + 1 : run.last + 3]
        if run.ordinal or run.value is None or run.value > MAX_COUNT or not after:
            continue
        if after[0] in nouns:
            return CountRead(run.value, (run.span[0], words[run.last + 1].end), 0.95)
        if after == ("of", "us"):
            value = run.value if counts_caller else run.value - 1
            return CountRead(value, (run.span[0], words[run.last + 2].end), 0.9)
    for i, w in enumerate(text[:-1]):
        if w in ("no", "zero") and text[i + 1] in nouns:
            return CountRead(0, (words[i].start, words[i + 1].end), 0.95)
    return None


def _people(words: Sequence[Token], counts_caller: bool) -> CountRead | None:
    """People listed: "me and my wife", "my wife and two kids", "my son"."""
    text = texts(words)
    runs = {r.last: r for r in number_runs(words) if r.value is not None}
    total, found, first, last = 0, False, -1, -1
    for i, w in enumerate(text):
        if w in _PEOPLE and (i == 0 or text[i - 1] in ("my", "a", "our", "his", "her", "one", "the")):
            total += 1
        elif w in _PEOPLE_PLURAL and i - 1 in runs:
            total += runs[i - 1].value or 0
        elif (w == "me" and text[i + 1 : i + 2] == ("and",)) or (w == "i" and text[i - 1 : i] == ("and",)):
            total += 1 if counts_caller else 0
        else:
            continue
        found, first, last = True, i if first < 0 else first, i
    if not found:
        return None
    return CountRead(total, (words[first].start, words[last].end), 0.85)


def _other_vehicles(words: Sequence[Token]) -> CountRead | None:
    """ "me and one other car" (2), "another car" (2), "two other cars" (3)."""
    text = texts(words)
    runs = {r.last: r for r in number_runs(words) if r.value is not None}
    for i, w in enumerate(text[:-1]):
        if w not in ("other", "another") or text[i + 1] not in _OTHER_VEHICLE:
            continue
        others = (runs[i - 1].value or 1) if i - 1 in runs else 1
        start = runs[i - 1].span[0] if i - 1 in runs else words[i].start
        return CountRead(others + 1, (start, words[i + 1].end), 0.85)
    return None


def _bare(words: Sequence[Token]) -> CountRead | None:
    for run in number_runs(words):
        if not run.ordinal and run.value is not None and run.value <= MAX_COUNT:
            return CountRead(run.value, run.span, 0.85)
    return None
