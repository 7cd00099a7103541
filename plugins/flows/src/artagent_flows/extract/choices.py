"""One option of a list, by any of its synonyms: "commuting to work" picks ``commute``.

Synonyms are matched on whole words, longest first; an option the caller rules out ("not for
work") is skipped. Failing that, rapidfuzz compares each synonym with the same number of the
caller's words, which forgives speech recognition's misspellings ("comuting").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from artagent_flows.extract.tokens import Token, content, phrase_tuple, texts

FUZZY_THRESHOLD = 85.0
_NEGATIONS = frozenset({"not", "no", "wasn't", "isn't", "never", "nothing", "non"})


@dataclass(frozen=True, slots=True)
class ChoiceRead:
    value: str
    span: tuple[int, int]
    confidence: float


def option_phrases(options: Mapping[str, Sequence[str]]) -> list[tuple[str, tuple[str, ...]]]:
    """Every (option, phrase) pair: each option's name (underscores read as spaces) and synonyms."""
    pairs = []
    for option, synonyms in options.items():
        for phrase in (option.replace("_", " "), *synonyms):
            words = phrase_tuple(phrase)
            if words:
                pairs.append((option, words))
    return sorted(pairs, key=lambda p: -len(p[1]))


def read_choice(
    tokens: Sequence[Token], options: Mapping[str, Sequence[str]], *, fuzzy: bool = True
) -> ChoiceRead | None:
    """The option the caller chose, or ``None`` when none (or two equally) fit.

    ``fuzzy`` also accepts near spellings (for the answer to the question itself).
    """
    words = content(tokens)
    if not words or not options:
        return None
    phrases = option_phrases(options)
    return _exact(words, phrases) or (_fuzzy(words, phrases) if fuzzy else None)


def _exact(words: Sequence[Token], phrases: Sequence[tuple[str, tuple[str, ...]]]) -> ChoiceRead | None:
    text = texts(words)
    hits: list[tuple[int, str, int]] = []  # (phrase length, option, start)
    for option, phrase in phrases:
        n = len(phrase)
        for i in range(len(text) - n + 1):
            if tuple(text[i : i + n]) == phrase and not _negated(text, i):
                hits.append((n, option, i))
    if not hits:
        return None
    longest = max(h[0] for h in hits)
    options = {h[1] for h in hits if h[0] == longest}
    if len(options) > 1:
        return None
    n, option, i = next(h for h in hits if h[0] == longest)
    return ChoiceRead(option, (words[i].start, words[i + n - 1].end), 0.95)


def _negated(text: Sequence[str], i: int) -> bool:
    return any(w in _NEGATIONS for w in text[max(0, i - 2) : i])


def _fuzzy(words: Sequence[Token], phrases: Sequence[tuple[str, tuple[str, ...]]]) -> ChoiceRead | None:
    text = texts(words)
    best: tuple[float, str, int, int] | None = None
    for option, phrase in phrases:
        target = " ".join(phrase)
        n = len(phrase)
        if len(target) < 4:
            continue
        for i in range(len(text) - n + 1):
            if _negated(text, i):
                continue
            score = fuzz.ratio(" ".join(text[i : i + n]), target)
            if score >= FUZZY_THRESHOLD and (best is None or score > best[0]):
                best = (score, option, i, n)
    if best is None:
        return None
    score, option, i, n = best
    return ChoiceRead(option, (words[i].start, words[i + n - 1].end), round(0.9 * score / 100, 3))
