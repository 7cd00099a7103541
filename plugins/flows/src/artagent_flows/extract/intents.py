"""Intents from example phrases ("I want to file a claim" -> ``claims``), and emergencies.

An utterance is compared with every example of every intent; the intent of the closest example
wins if it clears the threshold and no other intent is as close. Closeness is mostly about the
example's content words (not "I", "to", "a"), each found in the utterance exactly or nearly
(rapidfuzz, for speech recognition's misspellings), with the whole-string similarity as a
fallback for short phrases.

Emergencies are not left to examples: :func:`detect_emergency` knows the words ("bleeding",
"not breathing", "on fire", "someone is hurt") and their negations ("nobody is hurt").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from rapidfuzz import fuzz

from artagent_flows.extract.spec import IntentMatch
from artagent_flows.extract.tokens import content, phrase_list, texts, tokenize

DEFAULT_THRESHOLD = 0.72
WORD_MATCH = 82.0
_STOP = frozenset(
    """i i'm im me my mine a an the to of for in on at is are was were be been am it it's its this
    that that's there there's do does did can could would should will shall want wanna need like
    please just so um uh hi hello hey yeah yes okay ok well you your yours we our us what's what
    how about have has had get got some any with and or but if then now really actually gonna""".split()
)
# Words callers use for the same thing, read as one ("somebody hit my car" = "someone hit my car").
_SYNONYMS = {
    "somebody": "someone", "anybody": "anyone", "everybody": "everyone", "vehicle": "car",
    "auto": "car", "automobile": "car", "crash": "accident", "wreck": "accident", "speak": "talk",
    "human": "person", "rep": "representative",
    "cracked": "crack", "covered": "cover", "covers": "cover", "coverage": "cover",
}  # fmt: skip
EMERGENCY = "emergency"
_STRONG = phrase_list(
    "bleeding | blood | unconscious | not breathing | isn't breathing | can't breathe | "
    "cannot breathe | passed out | smoke coming | not responding | unresponsive | not moving | "
    "on fire | trapped | stuck in the car | can't get out | heart attack | dying | emergency | "
    "call an ambulance | need an ambulance | send an ambulance | get an ambulance | 911 | "
    "nine one one | seriously hurt | badly hurt | hurt bad | hurt badly | seriously injured | "
    "badly injured | really hurt | critically | broken bone | can't move"
)
_PRESENT_HURT = phrase_list(
    "is hurt | are hurt | is injured | are injured | is bleeding | someone's hurt | somebody's hurt | "
    "he's hurt | she's hurt | they're hurt | i'm hurt | hurt right now | needs help | need help now | "
    "he's stuck | she's stuck | they're stuck | is stuck | are stuck"
)
_NEGATORS = frozenset(
    {"no", "not", "nobody", "none", "nothing", "wasn't", "isn't", "didn't", "don't", "never", "without",
     "weren't", "aren't", "nobody's", "noone"}
)  # fmt: skip


@lru_cache(maxsize=4096)
def _prepared(text: str) -> tuple[str, tuple[str, ...]]:
    """An utterance or example as compared: its words joined, and its content words."""
    words = [_SYNONYMS.get(w, w) for w in texts(content(tokenize(text)))]
    return " ".join(words), tuple(w for w in words if w not in _STOP)


def similarity(utterance: str, example: str) -> float:
    """How well an utterance says what an example says, in [0, 1]."""
    return _Scorer(utterance).score(example)


class _Scorer:
    """Scores one utterance against examples. Which utterance words each example word is close
    to is worked out once per example word, not once per example and pair: examples share
    words ("car", "policy", "accident"), and rapidfuzz is most of the cost of a turn."""

    __slots__ = ("_close_to", "_u_all", "_u_words")

    def __init__(self, utterance: str) -> None:
        self._u_all, self._u_words = _prepared(utterance)
        self._close_to: dict[str, frozenset[str]] = {}

    def score(self, example: str) -> float:
        u_words = self._u_words
        e_all, e_words = _prepared(example)
        whole = fuzz.ratio(self._u_all, e_all) / 100
        if not e_words or not u_words:
            return whole
        matches = [self._matches(e) for e in e_words]
        recall = sum(1 for m in matches if m) / len(e_words)
        if recall == 0:
            return min(whole, 0.5)
        matched = frozenset().union(*matches)
        precision = sum(1 for u in u_words if u in matched) / len(u_words)
        fscore = 10 * precision * recall / (9 * precision + recall)  # F3: the example's words matter most
        return max(whole, 0.85 * fscore + 0.15 * recall)

    def _matches(self, e: str) -> frozenset[str]:
        found = self._close_to.get(e)
        if found is None:
            found = self._close_to[e] = frozenset(u for u in self._u_words if _close(e, u))
        return found


def _close(a: str, b: str) -> bool:
    if a == b:
        return True
    if min(len(a), len(b)) < 4:
        return False
    short, long = sorted((a, b), key=len)
    inflected = len(short) >= 4 and long.startswith(short) and long[len(short) :] in _INFLECTIONS
    # Near spellings, not other words: "person" is not "personal", though they look alike.
    return inflected or (abs(len(a) - len(b)) <= 1 and fuzz.ratio(a, b) >= WORD_MATCH)


_INFLECTIONS = frozenset({"s", "es", "ed", "d", "ing", "er", "ers", "ly"})


def match_intent(
    utterance: str, intents: Mapping[str, Sequence[str]], *, threshold: float = DEFAULT_THRESHOLD
) -> IntentMatch | None:
    """The intent whose examples the utterance matches best, if it clears ``threshold``.

    Two intents tied at the top means the utterance does not say which: ``None``.
    """
    scorer = _Scorer(utterance)
    scored: list[IntentMatch] = []
    for name, examples in intents.items():
        best = max(((scorer.score(ex), ex) for ex in examples), default=(0.0, ""))
        scored.append(IntentMatch(name=name, score=round(best[0], 3), example=best[1]))
    scored.sort(key=lambda m: -m.score)
    if not scored or scored[0].score < threshold:
        return None
    if len(scored) > 1 and scored[1].score >= scored[0].score - 0.01:
        return None
    return scored[0]


def detect_emergency(utterance: str) -> IntentMatch | None:
    """An injury emergency happening now ("someone is hurt, there's blood"), not denied."""
    words = texts(content(tokenize(utterance)))
    finder = _PhraseFinder(words)
    for table, score in ((_STRONG, 1.0), (_PRESENT_HURT, 0.9)):
        for phrase in table:
            i = finder.find(phrase)
            if i >= 0 and not _negated(words, i):
                return IntentMatch(name=EMERGENCY, score=score, example=" ".join(phrase))
    return None


class _PhraseFinder:
    """Where phrases occur in one utterance, allowing a misspelt long word ("blooding",
    "unconcious"). Each word of a phrase is looked for once per utterance, not once per place:
    there are some fifty phrases to look for in every turn."""

    __slots__ = ("_at", "_words")

    def __init__(self, words: Sequence[str]) -> None:
        self._words = words
        self._at: dict[str, frozenset[int]] = {}
        places: dict[str, list[int]] = {}
        for i, word in enumerate(words):
            places.setdefault(word, []).append(i)
        for word, where in places.items():
            if len(word) < 6:  # only a long target word may be misspelt: a short one is as said
                self._at[word] = frozenset(where)

    def find(self, phrase: tuple[str, ...]) -> int:
        """Where ``phrase`` first occurs, or -1."""
        last = len(self._words) - len(phrase)
        for i in sorted(self._places(phrase[0])):
            if i > last:
                break
            if all(i + k in self._places(target) for k, target in enumerate(phrase[1:], 1)):
                return i
        return -1

    def _places(self, target: str) -> frozenset[int]:
        found = self._at.get(target)
        if found is None:
            found = frozenset()
            if len(target) >= 6:
                found = frozenset(i for i, w in enumerate(self._words) if _near(w, target))
            self._at[target] = found
        return found


def _near(word: str, target: str) -> bool:
    if word == target:
        return True
    # fuzz.ratio is 100 * (1 - indel distance / total length), and the distance is at least the
    # difference in length: words too unlike in length cannot reach 85, so rapidfuzz is spared them.
    size, gap = len(word) + len(target), abs(len(word) - len(target))
    return len(target) >= 6 and gap <= 0.15 * size and fuzz.ratio(word, target) >= 85


def _negated(words: Sequence[str], i: int) -> bool:
    """A negator shortly before the phrase ("nobody is hurt", "there's no blood")."""
    return any(w in _NEGATORS for w in words[max(0, i - 3) : i])
