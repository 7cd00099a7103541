"""Vehicles: "my Honda", "the 2019 Civic", "a twenty twenty Toyota Camry", "the second one".

With the policy's vehicles known, the answer is matched against them (make, model and year
each count; a contradiction rules a vehicle out) and the value is the policy's own vehicle; two
that fit equally ("my Honda" with a Civic and an Accord) come back as alternatives to ask
between. Without them, make, model and year are read from a lexicon of common makes and models
(``data/vehicles.toml``), forgiving misspellings with rapidfuzz.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from types import MappingProxyType

from rapidfuzz import fuzz

from artagent_flows.extract.numbers import number_runs
from artagent_flows.extract.spec import Vehicle
from artagent_flows.extract.tokens import Token, content, phrase_tuple, texts

FUZZY_THRESHOLD = 85.0
_ORDINAL_PICKS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "last": -1}


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Makes and models, each with the phrases that name it."""

    makes: Mapping[str, tuple[tuple[str, ...], ...]]
    models: Mapping[str, Mapping[str, tuple[tuple[str, ...], ...]]]


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The packaged lexicon, read once."""
    raw = tomllib.loads(files("artagent_flows.extract").joinpath("data/vehicles.toml").read_text("utf-8"))
    makes: dict[str, tuple[tuple[str, ...], ...]] = {}
    models: dict[str, Mapping[str, tuple[tuple[str, ...], ...]]] = {}
    for make, entry in raw["makes"].items():
        makes[make] = _phrases(make, entry.get("aliases", []))
        models[make] = MappingProxyType({m: _phrases(m, a) for m, a in entry.get("models", {}).items()})
    return Lexicon(MappingProxyType(makes), MappingProxyType(models))


def _phrases(name: str, aliases: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    found = {phrase_tuple(p) for p in (name, *aliases)}
    return tuple(sorted((p for p in found if p), key=len, reverse=True))


@dataclass(frozen=True, slots=True)
class VehicleRead:
    value: Vehicle
    span: tuple[int, int]
    confidence: float
    alternatives: tuple[Vehicle, ...] = ()


@dataclass(frozen=True, slots=True)
class _Heard:
    make: str | None
    model: str | None
    year: int | None
    span: tuple[int, int] | None


def read_vehicle(
    tokens: Sequence[Token], *, policy: Sequence[Vehicle], latest_year: int
) -> VehicleRead | None:
    """The vehicle the caller means, matched against ``policy`` when it is not empty."""
    words = content(tokens)
    if not words:
        return None
    heard = _hear(words, latest_year, policy)
    if policy:
        return _pick(words, heard, policy)
    if heard.span is None or (heard.make is None and heard.model is None):
        return None
    conf = 0.9 if heard.make and heard.model else 0.7
    return VehicleRead(Vehicle(make=heard.make, model=heard.model, year=heard.year), heard.span, conf)


def _hear(words: Sequence[Token], latest_year: int, policy: Sequence[Vehicle]) -> _Heard:
    lex = lexicon()
    spans: list[tuple[int, int]] = []
    year = None
    for run in number_runs(words):
        y = run.year(latest_year)
        if y is not None:
            year = y
            spans.append(run.span)
            break
    extra = {v.make: (phrase_tuple(v.make),) for v in policy if v.make and _lexicon_make(v.make) is None}
    make = _find(words, {**lex.makes, **extra}, spans)
    candidates = _model_table(lex, make, policy)
    model = _find(words, candidates, spans)
    if make is None and model is not None:
        make = next((mk for mk, table in lex.models.items() if model in table), None)
        make = next((_lexicon_make(v.make) or v.make for v in policy if v.model == model and v.make), make)
    span = (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None
    return _Heard(make, model, year, span)


def _lexicon_make(name: str) -> str | None:
    """The lexicon's make for a policy's spelling of it ("Mercedes": "Mercedes-Benz")."""
    words = phrase_tuple(name)
    return next((mk for mk, phrases in lexicon().makes.items() if words in phrases), None)


def _model_table(
    lex: Lexicon, make: str | None, policy: Sequence[Vehicle]
) -> Mapping[str, tuple[tuple[str, ...], ...]]:
    """The models to look for: the policy's (with lexicon aliases), else the make's, else all."""
    if policy:
        table = {}
        for v in policy:
            if v.model:
                known = lex.models.get(_lexicon_make(v.make or "") or "", {}).get(v.model, ())
                table[v.model] = tuple(sorted({phrase_tuple(v.model), *known}, key=len, reverse=True))
        return table
    if make is not None:
        return lex.models.get(make, {})
    return {m: p for table in lex.models.values() for m, p in table.items()}


def _find(
    words: Sequence[Token], table: Mapping[str, tuple[tuple[str, ...], ...]], spans: list[tuple[int, int]]
) -> str | None:
    """The entry of ``table`` the words name: exact phrase first, then a close single word."""
    text = texts(words)
    for name, phrases in table.items():
        for phrase in phrases:
            n = len(phrase)
            for i in range(len(text) - n + 1):
                if tuple(text[i : i + n]) == phrase:
                    spans.append((words[i].start, words[i + n - 1].end))
                    return name
    best: tuple[float, str, Token] | None = None
    for name, phrases in table.items():
        for phrase in (p for p in phrases if len(p) == 1 and len(p[0]) >= 4):
            for w in words:
                score = fuzz.ratio(w.text, phrase[0])
                if score >= FUZZY_THRESHOLD and (best is None or score > best[0]):
                    best = (score, name, w)
    if best is None:
        return None
    spans.append((best[2].start, best[2].end))
    return best[1]


def _pick(words: Sequence[Token], heard: _Heard, policy: Sequence[Vehicle]) -> VehicleRead | None:
    """The policy vehicle(s) that fit what was heard best; contradictions rule a vehicle out."""
    picked = _by_position(words, policy)
    if picked is not None:
        return picked
    if heard.span is None:
        return None
    scores = [(_score(heard, v), v) for v in policy]
    best = max(s for s, _ in scores)
    if best <= 0:
        return None
    top = tuple(v for s, v in scores if s == best)
    confidence = 0.95 if heard.model else 0.85 if heard.make else 0.75
    if len(top) > 1:
        return VehicleRead(top[0], heard.span, 0.5, alternatives=top[1:])
    return VehicleRead(top[0], heard.span, confidence)


def _score(heard: _Heard, v: Vehicle) -> int:
    score = 0
    for said, has, weight in ((heard.make, v.make, 2), (heard.model, v.model, 3), (heard.year, v.year, 1)):
        if said is None or has is None:
            continue
        if weight == 2:
            has = _lexicon_make(str(has)) or has
        same = said == has if isinstance(said, int) else str(said).lower() == str(has).lower()
        if not same:
            return -1
        score += weight
    return score


def _by_position(words: Sequence[Token], policy: Sequence[Vehicle]) -> VehicleRead | None:
    """ "the first one", "the second car", "the other one" (of two)."""
    text = texts(words)
    for i, w in enumerate(text[:-1]):
        if w in _ORDINAL_PICKS and text[i + 1] in ("one", "car", "vehicle"):
            index = _ORDINAL_PICKS[w]
            if -len(policy) <= index < len(policy):
                return VehicleRead(policy[index], (words[i].start, words[i + 1].end), 0.8)
    return None
