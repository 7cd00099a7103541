"""Tokens of a transcribed utterance, with their character offsets in the original text.

Speech recognition output is lower- or sentence-case with unreliable punctuation, so every
extractor works on lower-cased tokens; the offsets let a result name the exact span it used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

_CURLY = "\u2019"  # the apostrophe some transcripts use
_TOKEN = re.compile(r"\d+|[^\W\d_]+(?:['\u2019][^\W\d_]+)*|[^\w\s]")

# Words that carry nothing: hesitations, discourse markers. "like" and "so" only as fillers at the
# edges, since "like" can also be part of a sentence.
FILLERS: frozenset[str] = frozenset(
    {"um", "umm", "uh", "uhh", "uhm", "er", "erm", "ah", "hmm", "hm", "mm", "mmm", "eh"}
)
_LEADING_FILLERS: frozenset[str] = FILLERS | {"so", "well", "okay", "ok", "like", "oh", "alright"}

TokenKind = Literal["num", "word", "punct"]


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``text`` is lower-cased (curly apostrophes made straight)."""

    text: str
    start: int
    end: int
    kind: TokenKind
    raw: str

    @property
    def is_word(self) -> bool:
        return self.kind == "word"

    @property
    def is_num(self) -> bool:
        return self.kind == "num"


@lru_cache(maxsize=1024)
def tokenize(utterance: str) -> tuple[Token, ...]:
    """Split an utterance into word, number and punctuation tokens ("3pm" gives "3" and "pm").

    Cached: a turn's extractors each tokenize the utterance (and their aliases) again, some fifty
    times a turn; tokens are immutable, so they can share one tuple."""
    tokens = []
    for m in _TOKEN.finditer(utterance):
        raw = m.group()
        kind: TokenKind = "num" if raw[0].isdigit() else ("word" if raw[0].isalpha() else "punct")
        tokens.append(Token(raw.lower().replace(_CURLY, "'"), m.start(), m.end(), kind, raw))
    return tuple(tokens)


def content(tokens: Sequence[Token]) -> tuple[Token, ...]:
    """Drop punctuation and hesitation fillers: the words an answer is made of."""
    return tuple(t for t in tokens if t.kind != "punct" and t.text not in FILLERS)


def strip_leading(tokens: Sequence[Token], words: Iterable[str] = ()) -> tuple[Token, ...]:
    """Drop fillers and discourse markers ("so", "well", "okay") at the start of an answer."""
    drop = _LEADING_FILLERS | frozenset(words)
    i = 0
    while i < len(tokens) and (tokens[i].kind == "punct" or tokens[i].text in drop):
        i += 1
    return tuple(tokens[i:])


def texts(tokens: Sequence[Token]) -> tuple[str, ...]:
    return tuple(t.text for t in tokens)


def span_of(tokens: Sequence[Token]) -> tuple[int, int]:
    """The character range covering these (consecutive) tokens."""
    return (tokens[0].start, tokens[-1].end)


def find_phrase(words: Sequence[str], phrase: Sequence[str], start: int = 0) -> int:
    """Index of the first occurrence of ``phrase`` in ``words`` at or after ``start``, or -1."""
    n = len(phrase)
    if n == 0:
        return -1
    for i in range(start, len(words) - n + 1):
        if words[i] == phrase[0] and tuple(words[i : i + n]) == tuple(phrase):
            return i
    return -1


def phrase_tuple(text: str) -> tuple[str, ...]:
    """A phrase from a YAML list or a lexicon, tokenised the way utterances are."""
    return texts(content(tokenize(text)))


def mask(utterance: str, spans: Iterable[tuple[int, int]]) -> str:
    """The utterance with these spans blanked out (same length, so offsets stay valid)."""
    chars = list(utterance)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def phrase_list(spec: str) -> tuple[tuple[str, ...], ...]:
    """Phrases written as one "|"-separated string (how lexicons are kept compact), tokenised."""
    return tuple(p for p in (phrase_tuple(part) for part in spec.split("|")) if p)
