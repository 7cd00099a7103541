"""Yes and no, the way callers say them: "yeah", "yep", "that's right", "nope", "not really".

Used for ``yes_no`` fields and for confirmations. A caller who is unsure ("I don't know",
"not sure", "no idea") has said neither. Phrases are matched on whole words, longest first;
short ones only where an answer starts, so "the right side" is no "right" and "it was towed"
no "it was".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from artagent_flows.extract.tokens import Token, content, phrase_list, phrase_tuple, strip_leading, texts

Scope = Literal["anywhere", "start", "whole"]

_UNSURE = (
    "i don't know | i do not know | don't know | dunno | i'm not sure | not sure | no idea | "
    "i have no idea | maybe | i don't remember | i can't remember | can't remember | "
    "i'm not certain | not certain | possibly | i'm unsure | hard to say | no clue"
)
_YES_ANYWHERE = (
    "that's correct | that is correct | that's right | that is right | yes it is | yes it was | "
    "of course | absolutely | definitely | affirmative | you got it | sounds good | i think so | "
    "i believe so | that's it | that's true | yes please | go ahead | all correct | all good | "
    "everything is correct | everything's correct | looks good | that's all correct | all right"
)
_YES_START = (
    "yes | yeah | yep | yup | ya | yah | yea | yes sir | yes ma'am | sure | correct | right | "
    "exactly | uh huh | mhm | mm hmm | mhmm | i guess so | please do | perfect | true | indeed | "
    "totally | certainly"
)
_YES_WHOLE = (
    "it is | it was | it does | it did | i did | i do | i am | there was | there were | "
    "they were | we were | he was | she was | okay | ok | all good | it is yes"
)
_NO_ANYWHERE = (
    "not really | not at all | i don't think so | i do not think so | don't think so | "
    "that's incorrect | that's wrong | that is wrong | that's not correct | "
    "that is not correct | that's not right | that is not right | not right | not correct | "
    "not quite | no way | no it isn't | no it wasn't | not that i know of | absolutely not | "
    "definitely not | of course not | nobody | no one | none | there were no | there was no | "
    "there's no | there wasn't any | there weren't any | we had no | i had no"
)
_NO_START = (
    "yeah no | no | nope | nah | naw | no no | negative | incorrect | wrong | uh uh | never | it isn't | "
    "it's not | it is not | it wasn't | it was not | it doesn't | it does not | it didn't | "
    "it did not | i didn't | i did not | i don't | i'm not | there wasn't | there weren't | "
    "there was not | there were not | they weren't | we weren't | not"
)
_MM_HMM = frozenset({("mm", "hmm"), ("mhm",), ("mmhmm",), ("mm", "hm"), ("mmm", "hmm"), ("uh", "huh")})
_TRAILING = frozenset({"please", "thanks", "thank", "you", "sir", "ma'am", "yes", "yeah", "no"})


Entry = tuple[tuple[str, ...], bool, Scope]


def _lexicon(phrases: Sequence[tuple[str, ...]], value: bool, scope: Scope) -> list[Entry]:
    return [(p, value, scope) for p in phrases]


def _longest_first(entries: list[Entry]) -> tuple[Entry, ...]:
    return tuple(sorted(entries, key=lambda entry: -len(entry[0])))


_PHRASES = _longest_first(
    _lexicon(phrase_list(_YES_ANYWHERE), True, "anywhere")
    + _lexicon(phrase_list(_YES_START), True, "start")
    + _lexicon(phrase_list(_YES_WHOLE), True, "whole")
    + _lexicon(phrase_list(_NO_ANYWHERE), False, "anywhere")
    + _lexicon(phrase_list(_NO_START), False, "start")
)
_UNSURE_PHRASES = phrase_list(_UNSURE)


@dataclass(frozen=True, slots=True)
class YesNo:
    """A yes or a no, and the span of the words that said it (the rest may carry more)."""

    value: bool
    span: tuple[int, int]
    confidence: float


def is_unsure(tokens: Sequence[Token]) -> bool:
    """Whether the caller said they do not know ("I don't know", "not sure", "no idea")."""
    words = texts(content(tokens))
    return any(_at(words, p) >= 0 for p in _UNSURE_PHRASES)


def _at(words: Sequence[str], phrase: tuple[str, ...]) -> int:
    n = len(phrase)
    for i in range(len(words) - n + 1):
        if tuple(words[i : i + n]) == phrase:
            return i
    return -1


def read_yes_no(
    tokens: Sequence[Token], *, yes: Sequence[str] = (), no: Sequence[str] = (), own_only: bool = False
) -> YesNo | None:
    """Yes or no from the caller's words.

    ``yes``/``no`` add a field's own phrases ("towed" is a no to "is the car drivable?"); they
    are tried first. ``own_only`` ignores the general lexicon (for an answer to another question).
    """
    words = strip_leading(content(tokens)) or content(tokens)  # "okay" alone is an answer
    spoken = [t for t in tokens if t.kind != "punct"]
    if spoken and texts(spoken[:2]) in _MM_HMM:  # "mm-hmm" is made of what are fillers elsewhere
        return YesNo(True, (spoken[0].start, spoken[min(1, len(spoken) - 1)].end), 0.85)
    if not words or is_unsure(words):
        return None
    own = _longest_first(
        _lexicon([phrase_tuple(p) for p in yes], True, "anywhere")
        + _lexicon([phrase_tuple(p) for p in no], False, "anywhere")
    )
    found = _first_match(words, own)
    if found is not None or own_only:
        return found
    return _first_match(words, _PHRASES)


def _first_match(words: Sequence[Token], phrases: Sequence[Entry]) -> YesNo | None:
    text = texts(words)
    best: tuple[int, int, bool] | None = None
    for phrase, value, scope in phrases:
        i = _at(text, phrase) if scope == "anywhere" else (0 if text[: len(phrase)] == phrase else -1)
        if i < 0 or (scope == "whole" and not _only_politeness(text[len(phrase) :])):
            continue
        if best is None or i < best[0]:
            best = (i, len(phrase), value)
    if best is None:
        return None
    i, n, value = best
    return YesNo(value, (words[i].start, words[i + n - 1].end), 0.95 if i == 0 else 0.8)


def _only_politeness(rest: Sequence[str]) -> bool:
    return all(w in _TRAILING for w in rest)
