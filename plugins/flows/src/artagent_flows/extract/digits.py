"""Digit strings: the last four of a policy or phone number, a phone number, a ZIP code.

A value is a run of digits however it was spoken ("1234", "one two three four", "twelve
thirty four", "four two five, five five five, ..."). Its length must be the one asked: a phone
number given for a ZIP code is no ZIP code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from artagent_flows.extract.numbers import NumberRun, number_runs
from artagent_flows.extract.tokens import Token

# "the last four are ...", "the four digits": the number names the length, it is not the value.
_LENGTH_WORDS = frozenset({"last", "first", "final"})
_AFTER_LENGTH = frozenset({"digits", "digit", "numbers", "number"})


@dataclass(frozen=True, slots=True)
class DigitsRead:
    digits: str
    span: tuple[int, int]
    confidence: float


def _value_runs(tokens: Sequence[Token]) -> list[NumberRun]:
    """Runs that can be a digit value: not ordinals, not "last four", not "four digits"."""
    out: list[NumberRun] = []
    for run in number_runs(tokens):
        before = tokens[run.first - 1].text if run.first > 0 else ""
        after = tokens[run.last + 1].text if run.last + 1 < len(tokens) else ""
        if run.ordinal or after in _AFTER_LENGTH:
            continue
        if before in _LENGTH_WORDS:
            out.extend(_after_length_word(tokens, run))
            continue
        out.append(run)
    return out


def _after_length_word(tokens: Sequence[Token], run: NumberRun) -> tuple[NumberRun, ...]:
    """ "last four one two three four": the digits after the word that names the length."""
    rest = tokens[run.first + 1 : run.last + 1]
    return tuple(r for r in number_runs(rest) if len(r.digits) > 1)


def read_digits(tokens: Sequence[Token], length: int | None) -> DigitsRead | None:
    """The digit run of exactly ``length`` digits (any run of 2+ digits when ``None``).

    When several runs fit, the last is taken (callers correct themselves forward: "1234, no,
    1243") with a lower confidence.
    """
    runs = [r for r in _value_runs(tokens) if _fits(r.digits, length)]
    if not runs:
        return None
    run = runs[-1] if length is not None else max(runs, key=lambda r: len(r.digits))
    return DigitsRead(run.digits, run.span, 0.95 if len(runs) == 1 else 0.75)


def _fits(digits: str, length: int | None) -> bool:
    return len(digits) == length if length is not None else len(digits) >= 2


def read_zip(tokens: Sequence[Token]) -> DigitsRead | None:
    """A five-digit ZIP code; a ZIP+4 ("98052-1234") gives its first five digits."""
    found = [r for r in _value_runs(tokens) if _zip_digits(r) is not None]
    if not found:
        return None
    run = found[-1]
    digits = _zip_digits(run)
    assert digits is not None
    return DigitsRead(digits, run.span, 0.95 if len(found) == 1 else 0.75)


def _zip_digits(run: NumberRun) -> str | None:
    digits = run.digits
    if len(digits) == 5:
        return digits
    if len(digits) == 9 and len(run.groups[-1]) == 4 and "".join(run.groups[:-1]) == digits[:5]:
        return digits[:5]
    return None
