"""Counts: "two cars", "just me", "nobody", "me and my wife", "one other car", "three of us".

Whether the caller counts depends on the question: "just me" is one person in the car but no
passengers, which is what the field's ``counts_caller`` says. Out of turn, a number counts only
next to one of the field's nouns ("two cars" for vehicles involved), so a model year or a ZIP
code is never a count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from artagent_flows.extract.numbers import NUMBER_WORDS, number_runs
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
_OTHER_THINGS = frozenset(
    "car cars vehicle vehicles truck trucks driver drivers one person people passenger passengers guy".split()
)


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
    found = _with_noun(words, noun_set, counts_caller)
    if found is not None or not bare:
        return found  # out of turn, only "two cars", "no passengers"
    leading = _bare(words[:1]) if words[0].is_num or words[0].text in NUMBER_WORDS else None
    return (
        _others(words, counts_caller)
        or (_bare(words) if leading else None)  # "Two. Me and one other."
        or _people(words, counts_caller)
        or _phrases(words, counts_caller)
        or _bare(words)
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


def _others(words: Sequence[Token], counts_caller: bool) -> CountRead | None:
    """ "me and one other car" (2), "another car" (2), "two other cars" (3), "one other"."""
    text = texts(words)
    runs = {r.last: r for r in number_runs(words) if r.value is not None}
    for i, w in enumerate(text):
        if w not in ("other", "another"):
            continue
        if i + 1 < len(text) and text[i + 1] not in _OTHER_THINGS:
            continue
        others = (runs[i - 1].value or 1) if i - 1 in runs else 1
        start = runs[i - 1].span[0] if i - 1 in runs else words[i].start
        end = words[i + 1].end if i + 1 < len(text) else words[i].end
        return CountRead(others + (1 if counts_caller else 0), (start, end), 0.85)
    return None


def _bare(words: Sequence[Token]) -> CountRead | None:
    for run in number_runs(words):
        if not run.ordinal and run.value is not None and run.value <= MAX_COUNT:
            return CountRead(run.value, run.span, 0.85)
    return None
