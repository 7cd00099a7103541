"""US states by name or postal code ("Washington", "WA", "new york"), names from the ``us`` package.

A two-letter code is taken only where it cannot be an English word: written in capitals
("WA"), or as the whole answer to "which state?". "in", "me", "or", "ok" in a sentence are
words, not Indiana, Maine, Oregon and Oklahoma.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import us
from rapidfuzz import fuzz

from artagent_flows.extract.tokens import Token, content, phrase_tuple, texts

_ALL = (*us.states.STATES_AND_TERRITORIES, us.states.DC)
NAME_TO_CODE: dict[tuple[str, ...], str] = {phrase_tuple(s.name): s.abbr for s in _ALL} | {
    ("washington", "state"): "WA",
    ("washington", "d", "c"): "DC",
    ("washington", "dc"): "DC",
    ("d", "c"): "DC",
    ("cali",): "CA",
}
CODES: frozenset[str] = frozenset(s.abbr for s in _ALL)
_NAMES_LONGEST = sorted(NAME_TO_CODE, key=len, reverse=True)
_FUZZY_THRESHOLD = 88.0


@dataclass(frozen=True, slots=True)
class StateRead:
    code: str
    span: tuple[int, int]
    confidence: float
    first: int  # index of the first token in the content words
    last: int


def read_state(tokens: Sequence[Token], *, bare: bool) -> StateRead | None:
    """The last state mentioned (an address ends with it); ``bare`` also accepts "wa" alone."""
    words = content(tokens)
    text = texts(words)
    return _by_name(words, text) or _by_code(words, bare) or _fuzzy(words, text)


def _by_name(words: Sequence[Token], text: Sequence[str]) -> StateRead | None:
    best: StateRead | None = None
    for phrase in _NAMES_LONGEST:
        n = len(phrase)
        for i in range(len(text) - n + 1):
            if tuple(text[i : i + n]) != phrase:
                continue
            if best is None or (i > best.first and i >= best.last + 1):
                best = StateRead(
                    NAME_TO_CODE[phrase], (words[i].start, words[i + n - 1].end), 0.95, i, i + n - 1
                )
    return best


def _by_code(words: Sequence[Token], bare: bool) -> StateRead | None:
    for i in range(len(words) - 1, -1, -1):
        tok = words[i]
        code = tok.raw.upper()
        if code in CODES and len(tok.raw) == 2 and (tok.raw.isupper() or (bare and len(words) <= 2)):
            return StateRead(code, (tok.start, tok.end), 0.9, i, i)
    return None


def _fuzzy(words: Sequence[Token], text: Sequence[str]) -> StateRead | None:
    """A misspelt state name ("pensylvania"); only long names, so no short word matches."""
    best: tuple[float, StateRead] | None = None
    for phrase, code in NAME_TO_CODE.items():
        target = " ".join(phrase)
        n = len(phrase)
        if len(target) < 6:
            continue
        for i in range(len(text) - n + 1):
            score = fuzz.ratio(" ".join(text[i : i + n]), target)
            if score >= _FUZZY_THRESHOLD and (best is None or score > best[0]):
                read = StateRead(code, (words[i].start, words[i + n - 1].end), 0.8, i, i + n - 1)
                best = (score, read)
    return best[1] if best is not None else None


def state_words(words: Sequence[str]) -> tuple[int, int] | None:
    """Where a state name starts and ends in these words (for telling a city from its state)."""
    for phrase in _NAMES_LONGEST:
        n = len(phrase)
        for i in range(len(words) - n + 1):
            if tuple(words[i : i + n]) == phrase:
                return i, i + n - 1
    return None
