"""Where something happened: street, city, state and ZIP, whole or in part, in one sentence.

"on main street in seattle", "123 Main St, Seattle, WA 98101", "at the corner of 3rd and Pike
in Seattle Washington", "on I-5 near Tacoma". A street is found by its type word ("street",
"ave", "highway 99"); the city follows it (or "in"), up to the state or ZIP. usaddress was
tried first and reads spoken sentences poorly ("it was on main street in seattle" comes back as
one "Recipient"), so the grammar is this module's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from artagent_flows.extract.digits import read_zip
from artagent_flows.extract.numbers import NumberRun, number_runs
from artagent_flows.extract.spec import Address
from artagent_flows.extract.states import CODES, StateRead, read_state
from artagent_flows.extract.tokens import Token, content, texts

SUFFIXES = {
    "street": "Street", "st": "Street", "avenue": "Avenue", "ave": "Avenue", "road": "Road",
    "rd": "Road", "boulevard": "Boulevard", "blvd": "Boulevard", "drive": "Drive", "dr": "Drive",
    "lane": "Lane", "ln": "Lane", "way": "Way", "place": "Place", "pl": "Place", "court": "Court",
    "ct": "Court", "circle": "Circle", "parkway": "Parkway", "pkwy": "Parkway", "terrace": "Terrace",
    "trail": "Trail", "loop": "Loop", "square": "Square", "plaza": "Plaza", "alley": "Alley",
    "expressway": "Expressway", "freeway": "Freeway", "turnpike": "Turnpike",
    "crescent": "Crescent", "row": "Row",
}  # fmt: skip
_ROUTES = {
    "highway": "Highway",
    "hwy": "Highway",
    "interstate": "I-",
    "route": "Route",
    "sr": "SR",
    "us": "US",
}
_DIRECTIONS = {
    "north": "North", "south": "South", "east": "East", "west": "West", "northeast": "Northeast",
    "northwest": "Northwest", "southeast": "Southeast", "southwest": "Southwest", "ne": "NE",
    "nw": "NW", "se": "SE", "sw": "SW", "n": "N", "s": "S", "e": "E", "w": "W",
}  # fmt: skip
_STOP = frozenset(
    """on at in the of near was it i and by off down up along corner intersection happened were we
    my a an to from going driving drove onto into over under parking lot front outside next behind
    across exit is that this there just right left when where while hit crashed turning stopped
    yesterday today um uh so like around about somewhere street city state zip code address
    location yeah yes okay ok no not sure think its it's with me he she they then also what who
    how why which huh pardon sorry actually wait""".split()
)
_ROUTE_LEAD = frozenset(
    {"on", "the", "off", "near", "at", "northbound", "southbound", "eastbound", "westbound"}
)
MAX_NAME_WORDS = 4


@dataclass(frozen=True, slots=True)
class AddressRead:
    value: Address
    span: tuple[int, int]
    confidence: float


@dataclass(frozen=True, slots=True)
class _Part:
    text: str
    first: int  # content-word indexes
    last: int


def read_address(tokens: Sequence[Token], *, bare: bool) -> AddressRead | None:
    """Whatever parts of an address these tokens give, or ``None`` when they give none."""
    words = content(tokens)
    runs = number_runs(words)
    street = _intersection(words, runs) or _street(words, runs) or _route(words, runs)
    taken = range(street.first, street.last + 1) if street else range(0)
    rest = [w for i, w in enumerate(words) if i not in taken]
    zip_read = read_zip(rest)
    state = read_state([w for w in rest if not zip_read or w.start < zip_read.span[0]], bare=False)
    city = _city(words, street, state_first=_index_of(words, state.span[0]) if state else None, bare=bare)
    if state is None and city is not None and city.last > city.first:
        city, state = _code_after_city(words, city)
    parts = [p for p in (street, city) if p is not None]
    spans = [(words[p.first].start, words[p.last].end) for p in parts]
    spans += [r.span for r in (state, zip_read) if r is not None]
    if not spans:
        return None
    address = Address(
        street=street.text if street else None,
        city=city.text if city else None,
        state=state.code if state else None,
        zip=zip_read.digits if zip_read else None,
    )
    span = (min(s[0] for s in spans), max(s[1] for s in spans))
    return AddressRead(address, span, min(0.95, 0.6 + 0.12 * len(spans)))


def _code_after_city(words: Sequence[Token], city: _Part) -> tuple[_Part, StateRead | None]:
    """ "bellevue wa 98004": a lower-case code that ends the city words is the state."""
    last = words[city.last]
    if last.text.upper() not in CODES or len(last.text) != 2:
        return city, None
    state = StateRead(last.text.upper(), (last.start, last.end), 0.85, city.last, city.last)
    name = " ".join(_cap(w) for w in words[city.first : city.last])
    return _Part(name, city.first, city.last - 1), state


def _index_of(words: Sequence[Token], start: int) -> int | None:
    return next((i for i, w in enumerate(words) if w.start == start), None)


def _street(words: Sequence[Token], runs: Sequence[NumberRun]) -> _Part | None:
    text = texts(words)
    for k, w in enumerate(text):
        if w not in SUFFIXES or k == 0 or _run_ending(runs, k) is not None:
            continue
        first = _name_start(words, runs, k)
        if first == k:
            continue
        number = next((r for r in runs if r.last == first - 1 and not r.ordinal and len(r.digits) <= 6), None)
        name = _name_text(words, runs, first, k - 1)
        prefix = f"{number.digits} " if number else ""
        last, direction = k, ""
        if k + 1 < len(text) and text[k + 1] in _DIRECTIONS and len(text[k + 1]) > 1:
            last, direction = k + 1, f" {_DIRECTIONS[text[k + 1]]}"  # "Aurora Avenue North"
        return _Part(f"{prefix}{name} {SUFFIXES[w]}{direction}", number.first if number else first, last)
    return None


def _run_ending(runs: Sequence[NumberRun], i: int) -> NumberRun | None:
    """The number run whose last token is ``i`` ("rd" of "3rd" is no Road)."""
    return next((r for r in runs if r.last == i), None)


def _name_start(words: Sequence[Token], runs: Sequence[NumberRun], suffix: int) -> int:
    """Walk back from the street type over up to three name words ("north 8th", "martin luther king")."""
    i = suffix
    count = 0
    while i > 0 and count < MAX_NAME_WORDS:
        run = next((r for r in runs if r.last == i - 1), None)
        if run is not None:
            if not run.ordinal:
                break
            i, count = run.first, count + 1
            continue
        w = words[i - 1].text
        if w in _STOP or w in SUFFIXES or not w.isalpha():
            break
        i, count = i - 1, count + 1
    return i


def _name_text(words: Sequence[Token], runs: Sequence[NumberRun], first: int, last: int) -> str:
    out = []
    i = first
    while i <= last:
        run = next((r for r in runs if r.first == i), None)
        if run is not None and run.ordinal and run.value is not None:
            out.append(_ordinal(run.value))
            i = run.last + 1
            continue
        w = words[i].text
        out.append(_DIRECTIONS[w] if w in _DIRECTIONS and len(w) > 1 else _cap(words[i]))
        i += 1
    return " ".join(out)


def _cap(tok: Token) -> str:
    return tok.raw if any(c.isupper() for c in tok.raw[1:]) else tok.raw.capitalize()


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _intersection(words: Sequence[Token], runs: Sequence[NumberRun]) -> _Part | None:
    """ "the corner of 3rd and Pike", "5th avenue and pine street", "main and 3rd"."""
    text = texts(words)
    for k, w in enumerate(text):
        if w != "and" or k == 0 or k + 1 >= len(text):
            continue
        cue = k >= 3 and ("corner" in text[: k - 1] or "intersection" in text[: k - 1])
        left = _side(words, runs, k - 1, backwards=True)
        right = _side(words, runs, k + 1, backwards=False)
        if left is None or right is None:
            continue
        typed = text[left.last] in SUFFIXES or text[right.last] in SUFFIXES
        if cue or typed:
            return _Part(f"{left.text} and {right.text}", left.first, right.last)
    return None


def _side(words: Sequence[Token], runs: Sequence[NumberRun], at: int, *, backwards: bool) -> _Part | None:
    """One street of an intersection, ending (or starting) at index ``at``."""
    text = texts(words)
    if backwards:
        last = at
        run = _run_ending(runs, at)
        if run is not None:
            first = _name_start(words, runs, run.first) if run.ordinal else at + 1
        elif text[at] in SUFFIXES:
            first = _name_start(words, runs, at)
        else:
            first = _name_start(words, runs, at + 1)
    else:
        first, last = at, at
        run = next((r for r in runs if r.first == at), None)
        if run is not None:
            last = run.last
        elif text[at] in _STOP or not text[at].isalpha():
            return None
        if last + 1 < len(text) and text[last + 1] in SUFFIXES:
            last += 1
    if first > last or first < 0:
        return None
    typed = text[last] in SUFFIXES and _run_ending(runs, last) is None
    body_last = last - 1 if typed else last
    if body_last < first:
        return None
    name = _name_text(words, runs, first, body_last)
    suffix = f" {SUFFIXES[text[last]]}" if typed else ""
    return _Part(f"{name}{suffix}", first, last)


def _route(words: Sequence[Token], runs: Sequence[NumberRun]) -> _Part | None:
    """ "highway 99", "I-5", "interstate 90", "route 66", "SR 520"."""
    text = texts(words)
    for run in runs:
        i = run.first - 1
        if i < 0 or run.ordinal:
            continue
        kind = text[i]
        if kind == "i" and (i == 0 or text[i - 1] not in _ROUTE_LEAD):
            continue
        if kind in _ROUTES or kind == "i":
            label = _ROUTES.get(kind, "I-")
            joined = f"{label}{run.digits}" if label.endswith("-") else f"{label} {run.digits}"
            return _Part(joined, i, run.last)
    return None


def _city(
    words: Sequence[Token], street: _Part | None, *, state_first: int | None, bare: bool
) -> _Part | None:
    """The city: after the street or after "in", before the state, ZIP or a word that ends it."""
    text = texts(words)
    start = None
    if street is not None and street.last + 1 < len(words):
        start = street.last + 1
        while start < len(text) and text[start] in ("in", "at", "of", "the", "city"):
            start += 1
    if start is None or (start < len(text) and not _city_word(text[start])):
        cues = (i + 1 for i, w in enumerate(text) if w in ("in", "near") and i + 1 < len(text))
        start = next((i for i in cues if _city_word(text[i])), None)  # "in the lot in Kirkland"
    if start is None and bare:
        start = 0
    if start is None:
        return None
    end = start
    stop = state_first if state_first is not None and state_first >= start else len(words)
    while end < stop and end - start < MAX_NAME_WORDS and _city_word(text[end]):
        end += 1
    if end == start:
        return None
    return _Part(" ".join(_cap(w) for w in words[start:end]), start, end - 1)


def _city_word(w: str) -> bool:
    return w.isalpha() and w not in _STOP and w not in SUFFIXES and w not in ("near", "by")
