"""Calendar dates as callers say them: "yesterday", "last Tuesday", "March third", "the 5th",
"two days ago", "3/10", and exact moments: "an hour ago", "just now".

This module finds the words that make the date and cleans them ("this past Tuesday" becomes
"last tuesday", "the third of March" becomes "march 3"); dateparser reads that short phrase
against the call's clock, preferring the past (a loss has happened). dateparser never sees the
whole sentence: it is slow on long text and reads stray numbers as dates ("monday at 5" as May).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import dateparser

from artagent_flows.extract.numbers import NumberRun, number_runs
from artagent_flows.extract.tokens import Token, content, texts

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
)  # fmt: skip
_MONTH_ABBR = {m[:3]: m for m in MONTHS} | {"sept": "september"}
_RELATIVE = {
    ("the", "day", "before", "yesterday"): "2 days ago",
    ("day", "before", "yesterday"): "2 days ago",
    ("yesterday",): "yesterday",
    ("today",): "today",
    ("tonight",): "today",
    ("last", "night"): "yesterday",
    ("this", "morning"): "today",
    ("this", "afternoon"): "today",
    ("this", "evening"): "today",
    ("just", "now"): "just now",
    ("right", "now"): "just now",
}
_UNITS = {"minute": "minutes", "hour": "hours", "day": "days", "week": "weeks", "month": "months"}
_WEEKDAY_LEAD = (("this", "past"), ("last",), ("past",), ("this",), ("on",))
_NUMERIC = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?\b|\b(\d{4})-(\d{2})-(\d{2})\b")
_SETTINGS = {"PREFER_DATES_FROM": "past", "DATE_ORDER": "MDY", "RETURN_AS_TIMEZONE_AWARE": False}


@dataclass(frozen=True, slots=True)
class DateRead:
    """A date, and the exact moment when the words gave one ("an hour ago")."""

    value: date
    span: tuple[int, int]
    confidence: float
    moment: datetime | None = None


@lru_cache(maxsize=512)
def _parse(phrase: str, base: datetime) -> datetime | None:
    """dateparser on a short, clean phrase, relative to ``base`` (naive, the call's local time)."""
    parsed: datetime | None = dateparser.parse(
        phrase, languages=["en"], settings={**_SETTINGS, "RELATIVE_BASE": base}
    )
    return parsed


def warm_up() -> None:
    """Load dateparser's language data (about 150 ms the first time) before the first call."""
    _parse("yesterday", datetime(2000, 1, 2))


def read_date(tokens: Sequence[Token], utterance: str, now: datetime) -> DateRead | None:
    """The date the caller gave, resolved against ``now`` (timezone-aware)."""
    words = content(tokens)
    base = now.replace(tzinfo=None)
    for finder in (_numeric, _month_day, _day_only, _weekday, _ago, _relative):
        found = finder(words, utterance, base)
        if found is None:
            continue
        phrase, span, exact = found
        parsed = _parse(phrase, base)
        if parsed is not None:
            moment = parsed.replace(tzinfo=now.tzinfo) if exact else None
            return DateRead(parsed.date(), span, 0.95 if phrase != "just now" else 0.9, moment)
    return None


Found = tuple[str, tuple[int, int], bool] | None


def _numeric(words: Sequence[Token], utterance: str, base: datetime) -> Found:
    m = _NUMERIC.search(utterance)
    return (m.group(), m.span(), False) if m else None


def _month_at(words: Sequence[Token], i: int) -> str | None:
    w = words[i].text if 0 <= i < len(words) else ""
    return w if w in MONTHS else _MONTH_ABBR.get(w) if w not in ("mar", "may") else None


def _day_run(runs: Sequence[NumberRun], index: int) -> NumberRun | None:
    run = next((r for r in runs if r.first == index), None)
    if run is None or run.value is None or not 1 <= run.value <= 31:
        return None
    return run


def _month_day(words: Sequence[Token], utterance: str, base: datetime) -> Found:
    """ "March 3rd", "march the third 2025", "the third of March", "3 March"."""
    runs = number_runs(words)
    for i in range(len(words)):
        month = _month_at(words, i)
        if month is None:
            continue
        j = i + 2 if i + 1 < len(words) and words[i + 1].text == "the" else i + 1
        after = _day_run(runs, j)
        if after is not None:
            year_run = next((r for r in runs if r.first == after.last + 1 and r.year(base.year + 1)), None)
            end = year_run.span[1] if year_run is not None else after.span[1]
            year = f" {year_run.year(base.year + 1)}" if year_run is not None else ""
            return f"{month} {after.value}{year}", (words[i].start, end), False
        k = i - 2 if i >= 2 and words[i - 1].text == "of" else i - 1
        before = next((r for r in runs if r.last == k and r.value and 1 <= r.value <= 31), None)
        if before is not None:
            return f"{month} {before.value}", (before.span[0], words[i].end), False
    return None


def _weekday(words: Sequence[Token], utterance: str, base: datetime) -> Found:
    """ "Tuesday", "last Tuesday", "this past Tuesday", "on Tuesday" (always the one just past)."""
    text = texts(words)
    for i, w in enumerate(text):
        if w not in WEEKDAYS:
            continue
        start = i
        for lead in _WEEKDAY_LEAD:
            if tuple(text[max(0, i - len(lead)) : i]) == lead:
                start = i - len(lead)
                break
        return f"last {w}", (words[start].start, words[i].end), False
    return None


def _ago(words: Sequence[Token], utterance: str, base: datetime) -> Found:
    """ "two days ago", "an hour ago", "a couple of days ago", "half an hour ago"."""
    text = texts(words)
    for i, w in enumerate(text):
        if w != "ago" or i < 2:
            continue
        unit = _UNITS.get(text[i - 1].rstrip("s"))
        if unit is None:
            continue
        amount, start = _amount(words, i - 1)
        if amount is None:
            continue
        if text[i - 3 : i] == ("half", "an", "hour") or text[i - 2 : i] == ("half", "hour"):
            amount, unit, start = 30, "minutes", i - 3 if text[i - 2] == "an" else i - 2
        exact = unit in ("minutes", "hours")
        return f"{amount} {unit} ago", (words[start].start, words[i].end), exact
    return None


def _amount(words: Sequence[Token], unit_index: int) -> tuple[int | None, int]:
    """The number before a unit ("two", "a", "a couple of"), and where it starts."""
    text = texts(words)
    prev = unit_index - 1
    if text[prev] in ("a", "an", "one"):
        return 1, prev
    if text[prev] == "couple" or (text[prev] == "of" and prev >= 1 and text[prev - 1] == "couple"):
        k = prev if text[prev] == "couple" else prev - 1
        return 2, k - 1 if k >= 1 and text[k - 1] == "a" else k
    run = next((r for r in number_runs(words) if r.last == prev and r.value is not None), None)
    return (run.value, run.first) if run is not None else (None, prev)


def _relative(words: Sequence[Token], utterance: str, base: datetime) -> Found:
    text = texts(words)
    for phrase in sorted(_RELATIVE, key=len, reverse=True):
        n = len(phrase)
        for i in range(len(text) - n + 1):
            if tuple(text[i : i + n]) == phrase:
                return (
                    _RELATIVE[phrase],
                    (words[i].start, words[i + n - 1].end),
                    _RELATIVE[phrase] == "just now",
                )
    return None


def _day_only(words: Sequence[Token], utterance: str, base: datetime) -> Found:
    """ "on the fifth", "the 3rd": that day of this month, or of last month if still to come."""
    text = texts(words)
    for run in number_runs(words):
        if not run.ordinal or run.value is None or not 1 <= run.value <= 31:
            continue
        if run.first == 0 or text[run.first - 1] != "the":
            continue
        month, year = base.month, base.year
        if run.value > base.day:
            month, year = (month - 1, year) if month > 1 else (12, year - 1)
        try:
            day = date(year, month, run.value)
        except ValueError:
            return None
        return (
            f"{MONTHS[day.month - 1]} {day.day} {day.year}",
            (words[run.first - 1].start, run.span[1]),
            False,
        )
    return None
