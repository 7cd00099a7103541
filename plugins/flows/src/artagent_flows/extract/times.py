"""Times of day as callers say them: "3 pm", "three thirty", "around four in the afternoon",
"quarter past five", "noon", "11 at night", "4:30 p.m.".

A bare number is a time only where something says so (a meridiem, "o'clock", "at"/"around"
before it, or the whole answer to "what time was it?"), so "two cars" is no two o'clock. Without
a meridiem or a part of the day, hours 7-11 are read as morning and 12-6 as afternoon (the
hours accidents happen in), with a lower confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time

from artagent_flows.extract.numbers import NumberRun, number_runs
from artagent_flows.extract.tokens import Token, content, texts

_AM_WORDS = frozenset({"am", "morning"})
_PM_WORDS = frozenset({"pm", "afternoon", "evening", "tonight"})
_NIGHT_WORDS = frozenset({"night"})
_CUE_BEFORE = frozenset(
    {"at", "around", "about", "approximately", "like", "roughly", "by", "after", "before", "near",
     "maybe", "yesterday", "today", "tonight", "morning", "afternoon", "evening", "night", "monday",
     "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
)  # fmt: skip
_FOLLOW_OK = frozenset(
    {"ish", "or", "in", "at", "on", "yesterday", "today", "tonight", "last", "this", "i", "maybe",
     "probably", "then", "when", "and", "that", "o'clock", "oclock", "sharp", "exactly"}
)  # fmt: skip
_NAMED = {"noon": time(12, 0), "midday": time(12, 0), "midnight": time(0, 0)}
_FRACTIONS = {"quarter": 15, "half": 30}
_PAST = frozenset({"past", "after"})
_TO = frozenset({"to", "till", "til", "of", "before"})


@dataclass(frozen=True, slots=True)
class TimeRead:
    value: time
    span: tuple[int, int]
    confidence: float


def read_time(tokens: Sequence[Token], *, bare: bool) -> TimeRead | None:
    """The time of day in these tokens; ``bare`` accepts a lone number ("three") as an hour."""
    words = content(tokens)
    if not words:
        return None
    period = _period(texts(words))
    return (
        _named(words)
        or _colon(tokens, words, period)
        or _relative(words, period)
        or _from_runs(words, period, bare)
    )


def _colon(tokens: Sequence[Token], words: Sequence[Token], period: str | None) -> TimeRead | None:
    """ "4:30", "16:45 ": the colon makes it a time whatever surrounds it."""
    for i in range(1, len(tokens) - 1):
        h, c, m = tokens[i - 1], tokens[i], tokens[i + 1]
        if c.text != ":" or not (h.is_num and m.is_num and len(m.text) == 2):
            continue
        k = next(j for j, w in enumerate(words) if w.start == m.start)
        meridiem = _meridiem_after(words, k)
        value = _resolve(int(h.text), int(m.text), meridiem or period)
        if value is not None:
            end = words[k + meridiem_len(words, k)].end
            return TimeRead(value[0], (h.start, end), max(value[1], 0.9))
    return None


def _period(words: Sequence[str]) -> str | None:
    """The part of the day said anywhere in the answer ("yesterday afternoon at three")."""
    joined = " ".join(words)
    for marker, period in ((" a m", "am"), (" p m", "pm")):
        if marker + " " in joined + " ":
            return period
    for w in words:
        if w in _AM_WORDS:
            return "am"
        if w in _PM_WORDS:
            return "pm"
        if w in _NIGHT_WORDS:
            return "night"
    return None


def _named(words: Sequence[Token]) -> TimeRead | None:
    for w in words:
        if w.text in _NAMED:
            return TimeRead(_NAMED[w.text], (w.start, w.end), 0.95)
    return None


def _relative(words: Sequence[Token], period: str | None) -> TimeRead | None:
    """ "quarter past three", "half past four", "ten to five"."""
    runs = number_runs(words)
    for i, w in enumerate(words[:-2]):
        minutes = _FRACTIONS.get(w.text)
        if minutes is None:
            run = next((r for r in runs if r.first == i and r.value is not None), None)
            minutes = run.value if run is not None and run.last == i else None
        if minutes is None or minutes > 30 or words[i + 1].text not in _PAST | _TO:
            continue
        hour_run = next((r for r in runs if r.first == i + 2 and r.value is not None), None)
        if hour_run is None or hour_run.value is None or not 1 <= hour_run.value <= 12:
            continue
        hour, mins = hour_run.value, minutes
        if words[i + 1].text in _TO:
            hour, mins = (hour - 1) or 12, 60 - minutes
        value = _resolve(hour, mins, period)
        if value is not None:
            return TimeRead(value[0], (w.start, hour_run.span[1]), value[1])
    return None


def _from_runs(words: Sequence[Token], period: str | None, bare: bool) -> TimeRead | None:
    for run in number_runs(words):
        if run.ordinal:
            continue
        meridiem = _meridiem_after(words, run.last)
        hm = _hour_minute(run, meridiem is not None)
        if hm is None or not _cued(words, run, meridiem, hm[1] is not None, bare):
            continue
        value = _resolve(hm[0], hm[1] or 0, meridiem or period)
        if value is not None:
            end = words[run.last + (meridiem_len(words, run.last))].end
            return TimeRead(value[0], (run.span[0], end), value[1])
    return None


def _hour_minute(run: NumberRun, has_meridiem: bool) -> tuple[int, int | None] | None:
    groups = run.groups
    if len(groups) == 2 and len(groups[1]) == 2 and int(groups[1]) < 60:
        return int(groups[0]), int(groups[1])
    if len(groups) == 1 and len(groups[0]) in (3, 4) and (has_meridiem or int(groups[0]) >= 1300):
        digits = groups[0]
        return int(digits[:-2]), int(digits[-2:])
    if len(groups) == 1 and len(groups[0]) <= 2:
        return int(groups[0]), None
    return None


def _meridiem_after(words: Sequence[Token], i: int) -> str | None:
    nxt = texts(words[i + 1 : i + 3])
    if nxt[:1] in (("am",), ("pm",)):
        return nxt[0]
    if nxt in (("a", "m"), ("p", "m")):
        return nxt[0] + "m"
    return None


def meridiem_len(words: Sequence[Token], i: int) -> int:
    """How many tokens after index ``i`` spell the meridiem (0, "pm": 1, "p m": 2)."""
    meridiem = _meridiem_after(words, i)
    if meridiem is None:
        return 1 if i + 1 < len(words) and words[i + 1].text in ("o'clock", "oclock") else 0
    return 1 if words[i + 1].text in ("am", "pm") else 2


def _cued(words: Sequence[Token], run: NumberRun, meridiem: str | None, minutes: bool, bare: bool) -> bool:
    if meridiem is not None or meridiem_len(words, run.last) == 1 or run.colon:
        return True
    before = words[run.first - 1].text if run.first > 0 else None
    after = words[run.last + 1].text if run.last + 1 < len(words) else None
    follow_ok = after is None or after in _FOLLOW_OK or after in _AM_WORDS | _PM_WORDS | _NIGHT_WORDS
    if before in _CUE_BEFORE and follow_ok:
        return True
    if after in ("in", "at", "this", "last") and _period(texts(words[run.last + 1 : run.last + 4])):
        return True  # "11 at night", "8 in the morning"
    return bare and follow_ok and (minutes or before in (None, "was", "it", "about", "'s"))


def _resolve(hour: int, minute: int, period: str | None) -> tuple[time, float] | None:
    """A clock time from an hour that may be 12-hour, and the part of the day if said."""
    if not 0 <= hour <= 23 or not 0 <= minute <= 59:
        return None
    if hour > 12 or hour == 0:
        return time(hour, minute), 0.9
    if period == "am":
        return time(hour % 12, minute), 0.95
    if period == "pm":
        return time(hour % 12 + 12, minute), 0.95
    if period == "night":
        return time(hour % 12 + (0 if hour < 5 or hour == 12 else 12), minute), 0.9
    return time(hour if 7 <= hour <= 11 else hour % 12 + 12, minute), 0.7
