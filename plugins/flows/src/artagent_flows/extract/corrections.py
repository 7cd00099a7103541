"""Corrections and confirmations: "no, it was Tuesday", "actually the ZIP is 98052", "sorry, I
meant Honda not Toyota", and the answer to "did I get that right?".

A correction needs a cue ("no", "actually", "sorry", "I meant", "wait") and a new value for a
field already collected. Which field: the one the caller names ("the ZIP is"), else the one
whose old value the caller rules out ("... not Toyota"), else one whose value names itself
(a date, an address, a vehicle) and differs from what was collected, else the field collected
last, read as a bare answer ("no, Smyth").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from rapidfuzz import fuzz

from artagent_flows.extract.fields import SELF_EVIDENT, extract
from artagent_flows.extract.spec import (
    Address,
    Correction,
    ExtractContext,
    Extraction,
    FieldLike,
    Value,
    Vehicle,
)
from artagent_flows.extract.tokens import (
    FILLERS,
    Token,
    content,
    mask,
    phrase_list,
    phrase_tuple,
    texts,
    tokenize,
)
from artagent_flows.extract.yesno import read_yes_no

_CUES = tuple(
    sorted(
        phrase_list(
            "no | nope | nah | actually | sorry | wait | oops | correction | i meant | i mean | i said | "
            "make that | change it to | change that to | scratch that | my mistake | my bad | "
            "let me correct that | that's wrong | that's not right | that's incorrect | not quite | no no | "
            "hold on | hang on | rather"
        ),
        key=len,
        reverse=True,
    )
)
_RULE_OUT = (("instead", "of"), ("rather", "than"), ("not",))
_OPENERS = frozenset({"oh", "um", "uh", "well", "so", "yeah", "and"})
_QUESTION_WORDS = frozenset("can could what who how why where when which would did do does".split())
_TRAILING_CUES = frozenset({"actually", "sorry", "instead"})
_RULE_OUT_ENDS = frozenset({"but", "it's", "it", "i", ",", ".", ";", "-", "?", "!"})


def _cue_end(words: Sequence[Token]) -> int:
    """Index just past the leading correction cues ("oh sorry, actually, ..."), -1 if none."""
    text = texts(words)
    i, found = 0, False
    while i < len(text):
        if text[i] in _OPENERS:
            i += 1
            continue
        phrase = next((p for p in _CUES if tuple(text[i : i + len(p)]) == p), None)
        if phrase is None:
            break
        i, found = i + len(phrase), True
    return i if found else -1


def detect_correction(
    utterance: str, fields: Sequence[FieldLike], collected: Mapping[str, Value], *, context: ExtractContext
) -> Correction | None:
    """The field the caller corrects and its new value, or ``None`` when this is no correction."""
    tokens = tokenize(utterance)
    words = content(tokens)
    end = _cue_end(words)
    ruled_out = _ruled_out(tokens)
    trailing = bool(words) and words[-1].text in _TRAILING_CUES
    if end < 0 and ruled_out is None and not trailing:
        return None
    if 0 <= end < len(words) and words[end].text in _QUESTION_WORDS:
        return None  # "sorry, can you repeat that?" asks, it does not correct
    start = words[end].start if 0 <= end < len(words) else len(utterance)
    rest = mask(utterance, [(0, start)]) if end >= 0 else utterance
    if trailing:
        rest = mask(rest, [(words[-1].start, words[-1].end)])  # "it was Pine Street actually"
    done = [f for f in fields if f.name in collected]
    recent = list(reversed(sorted(done, key=lambda f: list(collected).index(f.name))))
    for finder in (_named, _instead, _self_evident, _last):
        fix = finder(rest, recent, collected, context, ruled_out)
        if fix is not None:
            return fix
    return None


def _changed(fld: FieldLike, got: Extraction | None, collected: Mapping[str, Value]) -> Correction | None:
    """A correction when the new value differs; a new street keeps the city said before."""
    old = collected[fld.name]
    if got is None:
        return None
    value = got.value
    if isinstance(value, Address) and isinstance(old, Address):
        parts = ("street", "city", "state", "zip")
        value = Address(**{k: getattr(value, k) or getattr(old, k) for k in parts})
    if _same(value, old):
        return None
    return Correction(field=fld.name, value=value, extraction=got, previous=old)


def _named(rest: str, recent: Sequence[FieldLike], collected: Mapping[str, Value], ctx: ExtractContext,
           ruled_out: tuple[int, int] | None) -> Correction | None:  # fmt: skip
    """ "actually the ZIP is 98052": a field named by one of its aliases."""
    words = texts(tokenize(rest))
    for fld in recent:
        if any(_has(words, phrase_tuple(a)) for a in fld.aliases):
            fix = _changed(fld, extract(fld, rest, context=ctx, expected=False), collected)
            if fix is not None:
                return fix
    return None


def _instead(rest: str, recent: Sequence[FieldLike], collected: Mapping[str, Value], ctx: ExtractContext,
             ruled_out: tuple[int, int] | None) -> Correction | None:  # fmt: skip
    """ "I meant Honda not Toyota": the field whose old value is the one ruled out."""
    if ruled_out is None:
        return None
    old = rest[ruled_out[0] : ruled_out[1]]
    kept = mask(rest, [ruled_out])
    for fld in recent:
        if _mentions(old, collected[fld.name]):
            fix = _changed(fld, extract(fld, kept, context=ctx, expected=True), collected)
            if fix is not None:
                return fix
    return None


def _self_evident(rest: str, recent: Sequence[FieldLike], collected: Mapping[str, Value], ctx: ExtractContext,
                  ruled_out: tuple[int, int] | None) -> Correction | None:  # fmt: skip
    for fld in (f for f in recent if f.type in SELF_EVIDENT):
        # After a cue, "it was in Bellevue" may correct an address's city alone.
        fix = _changed(fld, extract(fld, rest, context=ctx, expected=fld.type == "address"), collected)
        if fix is not None:
            return fix
    return None


def _last(rest: str, recent: Sequence[FieldLike], collected: Mapping[str, Value], ctx: ExtractContext,
          ruled_out: tuple[int, int] | None) -> Correction | None:  # fmt: skip
    """ "no, Smyth": a bare answer for the value collected last."""
    if not recent or recent[0].type in ("yes_no", "text"):
        return None
    return _changed(recent[0], extract(recent[0], rest, context=ctx, expected=True), collected)


def _ruled_out(tokens: Sequence[Token]) -> tuple[int, int] | None:
    """The words after "not" / "instead of" / "rather than", up to "but", a comma or the end."""
    toks = [t for t in tokens if t.text not in FILLERS]
    text = texts(toks)
    for phrase in _RULE_OUT:
        n = len(phrase)
        for i in range(len(text) - n + 1):
            if tuple(text[i : i + n]) != phrase:
                continue
            j = i + n
            while j < len(text) and text[j] not in _RULE_OUT_ENDS:
                j += 1
            if j > i + n:
                return toks[i + n].start, toks[j - 1].end
    return None


def _has(words: Sequence[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return n > 0 and any(tuple(words[i : i + n]) == phrase for i in range(len(words) - n + 1))


def _mentions(said: str, value: Value) -> bool:
    """Whether the words ruled out name this old value ("Toyota" for a Toyota Camry)."""
    said = said.lower().strip()
    parts: list[str]
    if isinstance(value, Vehicle):
        parts = [p for p in (value.make, value.model, str(value.year) if value.year else None) if p]
    elif isinstance(value, date):
        parts = [value.strftime("%A"), value.strftime("%B")]
    else:
        parts = [str(value)]
    return any(fuzz.partial_ratio(said, p.lower()) >= 85 for p in parts if len(p) >= 2)


def _same(new: Value, old: Value) -> bool:
    if isinstance(new, str) and isinstance(old, str):
        return new.lower() == old.lower()
    return new == old


@dataclass(frozen=True, slots=True)
class Confirmation:
    """How a caller answered a read-back: confirmed, denied, corrected (with the new values)."""

    kind: Literal["confirmed", "denied", "corrected", "unclear"]
    corrections: tuple[Correction, ...] = field(default=())


def read_confirmation(
    utterance: str, fields: Sequence[FieldLike], collected: Mapping[str, Value], *, context: ExtractContext
) -> Confirmation:
    """The answer to "did I get that right?"; "no, the ZIP is 98052" corrects rather than denies."""
    fix = detect_correction(utterance, fields, collected, context=context)
    if fix is not None:
        return Confirmation(kind="corrected", corrections=(fix,))
    said = read_yes_no(tokenize(utterance))
    if said is None:
        return Confirmation(kind="unclear")
    return Confirmation(kind="confirmed" if said.value else "denied")
