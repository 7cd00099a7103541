"""Spoken and written numbers: runs of number tokens read as digit strings, cardinals or years.

Speech recognition writes numbers either way ("98052", "nine eight zero five two", "twenty
twenty two", "double five"), often mixed. A :class:`NumberRun` is a maximal stretch of number
tokens; text2num turns each stretch of number words into its digit groups, and the run is then
read as whatever the field needs: a digit string (ZIP, policy digits), a cardinal (a count) or a
year.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from text_to_num import alpha2digit

from artagent_flows.extract.tokens import Token

UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEENS = (
    "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen",
)  # fmt: skip
TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
ORDINALS = (
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
    "eighteenth", "nineteenth", "twentieth", "thirtieth",
)  # fmt: skip
SCALES = ("hundred", "thousand")
NUMBER_WORDS: frozenset[str] = frozenset(UNITS + TEENS + TENS + ORDINALS + SCALES)
_REPEATS = {"double": 2, "triple": 3}
_ZERO_WORDS = frozenset({"oh", "o"})
_JOINERS = frozenset({"-", ",", ".", ":", ")"})  # ")" as in "(206) 555-0199"
_GROUP = re.compile(r"(\d+)(st|nd|rd|th)?")
_ORDINAL_SUFFIX = frozenset({"st", "nd", "rd", "th"})


@dataclass(frozen=True, slots=True)
class NumberRun:
    """A stretch of number tokens: ``first``/``last`` index the utterance's token tuple.

    ``groups`` are the digit groups as spoken ("twenty twenty two" gives ("20", "22")),
    ``ordinal`` is true when the run ends with an ordinal ("third", "3rd"), ``colon`` when the
    groups were written with a colon ("4:30").
    """

    first: int
    last: int
    span: tuple[int, int]
    groups: tuple[str, ...]
    ordinal: bool
    colon: bool

    @property
    def digits(self) -> str:
        return "".join(self.groups)

    @property
    def value(self) -> int | None:
        """The run as one cardinal ("two thousand and nineteen": 2019), when it is one."""
        return int(self.groups[0]) if len(self.groups) == 1 else None

    def year(self, latest: int) -> int | None:
        """The run as a model or calendar year ("twenty nineteen", "2019", "two thousand nine")."""
        for digits in (self.digits, *self.groups):
            if len(digits) == 4 and 1950 <= int(digits) <= latest:
                return int(digits)
        return None


def _is_number_word(tokens: Sequence[Token], i: int, in_run: bool) -> bool:
    tok = tokens[i]
    if tok.is_num or tok.text in NUMBER_WORDS:
        return True
    nxt = _next_number(tokens, i)
    if tok.text in _REPEATS:
        return nxt or (i + 1 < len(tokens) and tokens[i + 1].text in _ZERO_WORDS)
    if tok.text in _ZERO_WORDS:  # "nineteen oh five"; "oh two one three eight" (a ZIP)
        return in_run or (_next_number(tokens, i) and _next_number(tokens, i + 1))
    if tok.text == "a":
        return i + 1 < len(tokens) and tokens[i + 1].text in SCALES
    if tok.text == "and":
        return in_run and tokens[i - 1].text in SCALES and nxt
    return False


def _next_number(tokens: Sequence[Token], i: int) -> bool:
    return i + 1 < len(tokens) and (tokens[i + 1].is_num or tokens[i + 1].text in NUMBER_WORDS)


def _joins(tokens: Sequence[Token], i: int) -> bool:
    """A punctuation token inside a number ("425-555-1212", "4:30", "four two five, five ...")."""
    if tokens[i].text not in _JOINERS or i + 1 >= len(tokens) or i == 0:
        return False
    nxt = tokens[i + 1]
    return nxt.is_num or nxt.text in NUMBER_WORDS or (tokens[i].text == "-" and nxt.text in _ZERO_WORDS)


def number_runs(tokens: Sequence[Token]) -> tuple[NumberRun, ...]:
    """Every maximal run of number tokens, in order."""
    runs: list[NumberRun] = []
    i = 0
    while i < len(tokens):
        if not _is_number_word(tokens, i, in_run=False):
            i += 1
            continue
        j = i
        while (
            j + 1 < len(tokens)
            and tokens[j].text not in ORDINALS
            and (
                _is_number_word(tokens, j + 1, in_run=True) or (_joins(tokens, j + 1) and j + 2 < len(tokens))
            )
        ):
            j += 1 if _is_number_word(tokens, j + 1, in_run=True) else 2
        run = _read_run(tokens, i, j)
        if run is not None:
            runs.append(run)
        i = j + 1
    return tuple(runs)


def _read_run(tokens: Sequence[Token], first: int, last: int) -> NumberRun | None:
    groups: list[str] = []
    colon = False
    words: list[str] = []
    k = first
    while k <= last:
        tok = tokens[k]
        if tok.kind == "word":
            k = _word_into(tokens, k, words)
        elif tok.text == "-" and words:
            pass  # "twenty-two" is one number
        else:
            groups.extend(_convert(words))
            words = []
            colon = colon or tok.text == ":"
            if tok.is_num:
                groups.append(tok.text)
        k += 1
    groups.extend(_convert(words))
    matches = [m for m in (_GROUP.fullmatch(g) for g in groups) if m is not None]
    if not matches:
        return None
    ordinal = matches[-1].group(2) is not None
    end = last
    if tokens[last].is_num and _attached_suffix(tokens, last):
        end, ordinal = last + 1, True
    span = (tokens[first].start, tokens[end].end)
    return NumberRun(first, end, span, tuple(m.group(1) for m in matches), ordinal, colon)


def _attached_suffix(tokens: Sequence[Token], i: int) -> bool:
    """ "3rd" is tokenised as "3" and "rd": the suffix makes the number an ordinal."""
    return (
        i + 1 < len(tokens) and tokens[i + 1].text in _ORDINAL_SUFFIX and tokens[i + 1].start == tokens[i].end
    )


def _word_into(tokens: Sequence[Token], k: int, words: list[str]) -> int:
    """Append the number word at ``k`` (expanding "double five", "oh", "a hundred")."""
    text = tokens[k].text
    if text in _REPEATS:
        word = "zero" if tokens[k + 1].text in _ZERO_WORDS else tokens[k + 1].text
        words.extend([word] * _REPEATS[text])
        return k + 1
    if text in _ZERO_WORDS:
        words.append("zero")
    elif text == "a":
        words.append("one")
    else:
        words.append(text)
    return k


def _convert(words: Sequence[str]) -> list[str]:
    """Number words to digit groups with text2num ("nine eight zero five two": 9 8 05 2)."""
    if not words:
        return []
    out = alpha2digit(" ".join(words), "en", threshold=0)
    return [piece for piece in out.split() if piece[0].isdigit()]


def cardinal_word(text: str) -> int | None:
    """A lone number word's value ("seven": 7), for callers that see single tokens."""
    if text in UNITS:
        return UNITS.index(text)
    if text in TEENS:
        return 10 + TEENS.index(text)
    if text in TENS:
        return 20 + 10 * TENS.index(text)
    return None
