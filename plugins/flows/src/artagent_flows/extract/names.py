"""People's names: "my name is John Smith", "it's Jane", "Smith, S M I T H", "it was me".

The name is the run of words after a lead-in ("my name is", "this is", "it's"), up to the first
common English word; letters spelled out ("S M I T H", "S-M-I-T-H") replace the word they spell
or stand as a word of their own. :func:`match_name` compares a heard name with known ones
(the policyholders), forgiving the misspellings speech recognition makes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import jellyfish
from rapidfuzz import fuzz

from artagent_flows.extract.numbers import NUMBER_WORDS
from artagent_flows.extract.tokens import FILLERS, Token, find_phrase, phrase_list, texts

_LEAD_INS = tuple(
    sorted(
        phrase_list(
            "my first name is | first name is | my name is | my name's | name is | the name is | "
            "name's | my full name is | full name is | "
            "this is | it's | it is | i'm | i am | call me | you can call me | the driver was | "
            "the driver is | driver was | driver's name is | his name is | her name is | their name is | "
            "that's | that is | that would be | it was | was driving | is driving | speaking with | "
            "they call me | name | was"
        ),
        key=len,
        reverse=True,
    )
)
_SELF = phrase_list(
    "it was me | that was me | i was | me | myself | i was driving | i was the driver | same as me | "
    "same person | the same | i did | me i was | i am the driver | i'm the driver"
)
_OPENERS = frozenset({"yes", "yeah", "yep", "sure", "hi", "hello", "hey", "okay", "ok", "so", "well", "oh"})
# Common English words that end (or rule out) a name. Words that are also common first names
# (will, mark, bill, frank, grant, rose, may, june, ...) are left out on purpose.
_STOP = frozenset(
    """a about after again all also am an and any are as at be because been before being but by
    can can't could did didn't do does doesn't don't for from had has have he her here hers him his
    how i i'd i'll i'm i've if in into is isn't it it's its just know let me mine my myself no nope
    not now of off on one only or our out over please really right said say she should so some
    sorry speak speaking still talk than thank thanks that that's the their them then there these
    they this those through to too uh um under up us very was wasn't we were what when where which
    who why with would yeah yes you your yours zip code number phone policy driver driving car
    vehicle accident claim file hurt hello hi hey okay ok name names what's hmm think guess sure
    repeat again spell spelled spelling call calling called want need help person agent human
    representative someone somebody nobody anyone wait sec second moment hold on actually meant
    mr mrs ms miss mister dr doctor
    monday tuesday wednesday thursday friday saturday sunday yesterday today tonight morning
    afternoon evening night last next week weekend month year ago around noon midnight pm o'clock
    street avenue road drive boulevard lane highway parking lot
    january february march april july august september october november december""".split()
)
_RELATIONS = frozenset(
    """wife husband son daughter mom mother dad father brother sister friend partner boyfriend
    girlfriend coworker colleague neighbor neighbour roommate cousin uncle aunt kid child""".split()
)
_PARTICLES = frozenset({"de", "del", "la", "le", "van", "von", "der", "da", "di", "du", "st", "bin", "al"})
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})


@dataclass(frozen=True, slots=True)
class NameRead:
    """A name (title-cased), or ``is_self`` when the caller named themselves ("it was me")."""

    value: str
    span: tuple[int, int]
    confidence: float
    is_self: bool = False


def read_name(tokens: Sequence[Token]) -> NameRead | None:
    """The person's name in these tokens, or ``None`` when there is none ("I don't know")."""
    words = [t for t in tokens if t.text not in FILLERS]
    plain = [t for t in words if t.kind != "punct"]
    if not plain:
        return None
    self_ref = _self_reference(plain)
    if self_ref is not None:
        return self_ref
    start = _after_lead_in(plain)
    parts, span = _name_words(words, plain[start].start if start < len(plain) else None)
    if not parts and start > 0:  # "Tom Smith was driving": the lead-in came after the name
        parts, span = _name_words(words, plain[_after_openers(plain)].start)
    if not parts:
        return None
    parts = _restated(parts) + _last_name(plain, span)
    spelled = any(len(p) > 1 and p.isupper() for p in parts)
    confidence = 0.95 if spelled and len(parts) > 1 else {1: 0.6, 2: 0.9, 3: 0.9}.get(len(parts), 0.7)
    return NameRead(" ".join(_title(p) for p in parts), span, confidence)


_LAST_NAME = (("last", "name", "is"), ("last", "name's"), ("surname", "is"), ("last", "name"))


def _last_name(plain: Sequence[Token], span: tuple[int, int]) -> list[str]:
    """ "my first name is Anna and my last name is Kowalski": the surname said apart."""
    text = texts(plain)
    for phrase in _LAST_NAME:
        i = find_phrase(text, phrase)
        if i >= 0 and i + len(phrase) < len(plain) and plain[i].start > span[1]:
            parts, _ = _name_words(plain, plain[i + len(phrase)].start)
            return parts
    return []


def _restated(parts: list[str]) -> list[str]:
    """ "Patel, Priya Patel": a caller who starts over; the last full statement counts."""
    lowered = [p.lower() for p in parts]
    for i, word in enumerate(lowered):
        if word in lowered[i + 1 :]:
            return parts[i + 1 :]
    return parts


def _self_reference(plain: Sequence[Token]) -> NameRead | None:
    words = [t for t in plain if t.text not in _OPENERS]
    text = texts(words)
    for phrase in _SELF:
        if text == phrase:
            return NameRead("", (plain[0].start, plain[-1].end), 0.9, is_self=True)
    for phrase in _SELF_LEADS:  # "I was driving my Honda yesterday ...": the rest is for other fields
        if tuple(text[: len(phrase)]) == phrase:
            return NameRead("", (words[0].start, words[len(phrase) - 1].end), 0.85, is_self=True)
    return None


_SELF_LEADS = phrase_list("i was driving | i was the driver | i am the driver | i'm the driver | it was me")


def _after_lead_in(plain: Sequence[Token]) -> int:
    text = texts(plain)
    for phrase in _LEAD_INS:
        i = find_phrase(text, phrase)
        if i >= 0:
            return i + len(phrase)
    return _after_openers(plain)


def _after_openers(plain: Sequence[Token]) -> int:
    i = 0
    while i < len(plain) and plain[i].text in _OPENERS:
        i += 1
    return i if i < len(plain) else 0


def _name_words(words: Sequence[Token], start: int | None) -> tuple[list[str], tuple[int, int]]:
    """Name words from char offset ``start`` on; spelled letters ("S M I T H") become words."""
    toks = [w for w in words if start is not None and w.start >= start and w.text not in "-.,'"]
    if len(toks) > 1 and toks[0].text in ("my", "our", "his", "her") and toks[1].text in _RELATIONS:
        toks = toks[2:]  # "the driver was my wife Jane"
    while toks and toks[0].text in _HONORIFICS:
        toks = toks[1:]  # "Mr. John Smith"
    hyphened = _hyphen_joined(words)
    parts: list[str] = []
    first = last = -1
    letters: list[Token] = []
    for i, tok in enumerate(toks):
        if _is_letter(toks, i, letters):
            letters.append(tok)
        elif _is_name_word(tok, parts):
            _flush(parts, letters)
            letters = []
            if parts and tok.start in hyphened:
                parts[-1] = f"{parts[-1]}-{tok.raw}"
            else:
                parts.append(tok.raw)
        else:
            break
        first = tok.start if first < 0 else first
        last = tok.end
    _flush(parts, letters)
    return parts, (first, last)


def _hyphen_joined(words: Sequence[Token]) -> frozenset[int]:
    """Starts of words written onto the previous one with a hyphen ("Mary-Jane")."""
    return frozenset(
        b.start
        for a, h, b in zip(words, words[1:], words[2:], strict=False)
        if h.text == "-" and a.end == h.start and h.end == b.start and len(a.text) > 1 and len(b.text) > 1
    )


def _is_letter(toks: Sequence[Token], i: int, letters: Sequence[Token]) -> bool:
    """A single letter of a spelling: "i" and "a" too, once a spelling has started."""
    if toks[i].kind != "word" or len(toks[i].text) != 1:
        return False
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    return bool(letters) or (nxt is not None and nxt.kind == "word" and len(nxt.text) == 1)


_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "mister", "dr", "doctor"})


def _is_name_word(tok: Token, parts: Sequence[str]) -> bool:
    if tok.kind != "word" or tok.text in _STOP or tok.text in NUMBER_WORDS or len(tok.text) < 2:
        return False
    return bool(parts) or tok.text not in _PARTICLES | _SUFFIXES


def _flush(parts: list[str], letters: Sequence[Token]) -> None:
    """Spelled letters: they replace the word they spell, else they are a word themselves."""
    if len(letters) < 2:
        return
    spelled = "".join(t.text for t in letters).upper()
    if parts and fuzz.ratio(parts[-1].lower(), spelled.lower()) >= 50:
        parts[-1] = spelled
    else:
        parts.append(spelled)


def _title(word: str) -> str:
    """ "smith" -> "Smith", "SMITH" -> "Smith", "McDonald" kept, "o'brien" -> "O'Brien"."""
    return "-".join(_title_part(part) for part in word.split("-"))


def _title_part(word: str) -> str:
    if any(c.isupper() for c in word[1:]) and not word.isupper():
        return word
    out = word.lower().capitalize()
    if len(out) > 2 and out[1] == "'":
        out = out[:2] + out[2:].capitalize()
    return out


def match_name(heard: str, known: Iterable[str], *, threshold: float = 0.8) -> tuple[str, float] | None:
    """The known name closest to a heard one, by spelling and by sound ("Jon Smyth": John Smith)."""
    best: tuple[str, float] | None = None
    for name in known:
        score = name_similarity(heard, name)
        if score >= threshold and (best is None or score > best[1]):
            best = (name, score)
    return best


def name_similarity(a: str, b: str) -> float:
    """Similarity of two names in [0, 1]: the better of spelling and sound (metaphone) likeness."""
    a_norm, b_norm = a.lower().strip(), b.lower().strip()
    spelling = fuzz.token_sort_ratio(a_norm, b_norm) / 100
    sound = fuzz.token_sort_ratio(_sounds(a_norm), _sounds(b_norm)) / 100
    return max(spelling, 0.9 * sound + 0.1 * spelling)


def _sounds(name: str) -> str:
    return " ".join(jellyfish.metaphone(part) for part in name.split())


def spelled_letters(tokens: Sequence[Token]) -> str | None:
    """Letters spelled one by one ("S M I T H"), joined, when the answer is only that."""
    letters = [t.text for t in tokens if t.kind == "word" and t.text not in FILLERS]
    if len(letters) >= 2 and all(len(x) == 1 for x in letters):
        return "".join(letters).upper()
    return None
