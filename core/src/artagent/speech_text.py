"""What sits between the model's streamed text and TTS.

`ClauseChunker` turns token deltas into pieces worth sending to TTS: the first clause as soon as
it is complete (so the caller hears something early), then whole sentences (so prosody stays
natural). `normalize_for_speech` rewrites what a voice would otherwise misread: numbers, money,
dates, times, e-mail addresses and identifiers such as policy numbers.

Both are synchronous and cheap: regexes are compiled once, each rule is one pass over the text.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Final, Literal

from num2words import num2words

__all__ = ["ClauseChunker", "normalize_for_speech"]

# ---- clause chunking ---------------------------------------------------------------------------

_CLOSERS: Final = "\"'\u201d\u2019)\\]}\u00bb"
_BREAK_RE: Final = re.compile(
    rf"(?:(?P<term>[.!?\u2026]+)|(?P<clause>[,;:]|(?<=\s)(?:--?|\u2013)))[{_CLOSERS}]*(?P<space>\s+)(?=(?P<next>\S))"
    r"|(?P<em>\u2014)(?P<em_space>\s*)(?=(?P<em_next>\S))"
    r"|(?P<nl>\s*\n\s*)(?=\S)"
)
_SOFT_CUT_RE: Final = re.compile(rf"(?:[.!?\u2026,;:\u2014]|\s[-\u2013]{{1,2}})[{_CLOSERS}]*\s")
_SPACE_RE: Final = re.compile(r"\s+")
# Abbreviations whose '.' never ends a sentence / ends one only when a capital follows.
_NEVER_END: Final = frozenset(
    "mr mrs ms dr prof st sr jr mt ft vs e.g i.e cf approx gen gov lt col rev u.s u.k".split()
)
_END_IF_CAPITAL_FOLLOWS: Final = frozenset(
    "a.m p.m etc inc ltd co corp llc jan feb aug sept oct nov dec".split()
)
_BEFORE_NUMBER: Final = frozenset("no nos vol pg pp ch sec art ext tel apt ste rm".split())
_INITIALISM_RE: Final = re.compile(r"(?:[a-z]\.)+[a-z]")

Kind = Literal["sentence", "clause"]


def _period_kind(token: str, next_char: str, first_in_piece: bool) -> Kind | None:
    """Whether '.' after `token` ends a sentence; None for abbreviations, initials, list markers."""
    word = token.lstrip("\"'(\u201c\u2018[").lower()
    if next_char.islower() or word in _NEVER_END or (len(word) == 1 and word.isalpha()):
        return None
    if word in _END_IF_CAPITAL_FOLLOWS or _INITIALISM_RE.fullmatch(word):
        return "sentence" if next_char.isupper() else None
    if word in _BEFORE_NUMBER and next_char.isdigit():
        return None
    if word.isdigit() and first_in_piece:
        return None  # "2. Pay the invoice" in a numbered list
    return "sentence"


def _break_kind(text: str, m: re.Match[str]) -> Kind | None:
    if m.group("nl") is not None or "\n" in (m.group("space") or m.group("em_space") or ""):
        return "sentence"
    term = m.group("term")
    if term is None:
        return "clause"
    if "!" in term or "?" in term:
        return "sentence"
    next_char = m.group("next")
    if len(term) > 1 or term == "\u2026":
        return "sentence" if next_char.isupper() or next_char.isdigit() else "clause"
    words = text[: m.start()].rsplit(None, 1)
    return _period_kind(words[-1] if words else "", next_char, first_in_piece=len(words) < 2)


class ClauseChunker:
    """Splits streamed model text into clauses and sentences for TTS; one instance per response.

    A break needs the next non-space character before it is decided (is "3." followed by "5"?
    is "a.m." followed by a capital?), so the output is the same however the text is split into
    deltas. The first piece may end at a comma, semicolon, colon or dash once it has
    `min_clause_words` words; after that only sentence ends split. A run with no break is cut at
    the last clause mark or word boundary within `max_chars`.
    """

    __slots__ = ("_buf", "_started", "max_chars", "min_clause_words")

    def __init__(self, min_clause_words: int = 4, max_chars: int = 250) -> None:
        if min_clause_words < 1:
            raise ValueError(f"min_clause_words must be at least 1, got {min_clause_words}")
        if max_chars < 8:
            raise ValueError(f"max_chars must be at least 8, got {max_chars}")
        self.min_clause_words = min_clause_words
        self.max_chars = max_chars
        self._buf = ""
        self._started = False

    def feed(self, delta: str) -> list[str]:
        """Add a text delta; return the pieces now complete, in order."""
        self._buf = (self._buf + delta) if self._buf else delta.lstrip()
        pieces: list[str] = []
        while (cut := self._next_cut()) is not None:
            pieces.append(self._buf[:cut].strip())
            self._buf = self._buf[cut:].lstrip()
            self._started = True
        return pieces

    def flush(self) -> list[str]:
        """End of the response: return what is left and get ready for the next one."""
        rest = self._buf.strip()
        self._buf, self._started = "", False
        return [rest] if rest else []

    def _next_cut(self) -> int | None:
        # Only the first max_chars + 1 characters are looked at, so a decision never depends
        # on how much text has arrived beyond them: that is what makes chunking not matter.
        head = self._buf[: self.max_chars + 1]
        for m in _BREAK_RE.finditer(head):
            kind = _break_kind(head, m)
            if kind == "sentence" or (kind == "clause" and self._clause_allowed(head, m.start())):
                return m.end()
        if len(self._buf) <= self.max_chars:
            return None
        return self._forced_cut(head)

    def _clause_allowed(self, head: str, at: int) -> bool:
        return not self._started and len(head[:at].split()) >= self.min_clause_words

    def _forced_cut(self, head: str) -> int | None:
        """Cut an over-long run at its last clause mark, else its last space, never inside a word."""
        soft = [m.end() for m in _SOFT_CUT_RE.finditer(head)]
        if soft:
            return soft[-1]
        spaces = [m.start() for m in _SPACE_RE.finditer(head)]
        if spaces:
            return spaces[-1]
        far = _SPACE_RE.search(self._buf, len(head))
        return None if far is None else far.start()


# ---- normalisation for speech ------------------------------------------------------------------

_DIGITS: Final = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_MONTHS: Final = (
    "January February March April May June July August September October November December".split()
)
_MONEY: Final = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "\u20ac": ("euro", "euros", "cent", "cents"),
    "\u00a3": ("pound", "pounds", "penny", "pence"),
}
_SYMBOLS: Final = {".": "dot", "@": "at", "_": "underscore", "-": "dash", "+": "plus", "/": "slash"}
_DAY_FIRST: Final = frozenset({"en_gb", "en_ie", "en_au", "en_nz", "en_in", "en_za", "en_ng"})
_INT: Final = r"\d{1,3}(?:,\d{3})+|\d+"
_NOT_AFTER: Final = r"(?<![\w.,/:])"
_NOT_BEFORE: Final = r"(?![\w/]|[.,:]\d)"

_EMAIL_RE: Final = re.compile(r"\b[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
_URL_RE: Final = re.compile(r"\b(?:https?://|www\.)[^\s<>\"]*[^\s<>\".,;:!?)]")
_PHONE_RE: Final = re.compile(
    r"(?<![\w+\-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-]?)\d{3}[\s.-]?\d{4}(?![\w-])"
)
_ISO_DATE_RE: Final = re.compile(r"(?<![\w.,/:-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\w/-]|[.,:]\d)")
_SLASH_DATE_RE: Final = re.compile(_NOT_AFTER + r"(\d{1,2})/(\d{1,2})/(\d{4})" + _NOT_BEFORE)
_MONTH_DAY_RE: Final = re.compile(r"\b(" + "|".join(_MONTHS) + r")\s(\d{1,2})(?:st|nd|rd|th)?\b")
_TIME_12_RE: Final = re.compile(
    _NOT_AFTER + r"(\d{1,2})(?::([0-5]\d))?\s?([AaPp])\.?\s?[Mm](?:\.(?=\S))?(?!\w)"
)
_TIME_24_RE: Final = re.compile(_NOT_AFTER + r"([01]?\d|2[0-3]):([0-5]\d)(?![\w:]|[.,]\d)")
_SCALE: Final = r"(?:\s(thousand|million|billion|trillion)\b)?"
_MONEY_RE: Final = re.compile(
    r"([$\u20ac\u00a3])\s?(" + _INT + r")(?:\.(\d{1,2}))?" + _SCALE + r"(?![\w.]\d)"
)
_PERCENT_RE: Final = re.compile(_NOT_AFTER + r"(-)?(" + _INT + r")(?:\.(\d+))?\s?%")
_MARKED_ID_RE: Final = re.compile(
    r"(?i)(?:#|\b(?:zip|postal|policy|claim|account|acct|member|reference|ref|confirmation|order|ticket"
    r"|case|invoice|routing|card|tracking|phone|extension)(?:\s(?:code|number|no\.?|num|id|#))?"
    r"(?:\s?:|\sis)?\s?)(\d+(?:-\d+)*)(?![\w.,]\d|\w)"
)
_STATE_ZIP_RE: Final = re.compile(r"\b[A-Z]{2},?\s(\d{5}(?:-\d{4})?)\b")
_DIGIT_ID_RE: Final = re.compile(_NOT_AFTER + r"(?:0\d+|\d{7,}|\d{5}-\d{4})" + _NOT_BEFORE)
_DECADE_RE: Final = re.compile(_NOT_AFTER + r"'?(\d0|1[89]\d0|20\d0)'?s\b")
_ORDINAL_RE: Final = re.compile(_NOT_AFTER + r"(" + _INT + r")(?:st|nd|rd|th)\b", re.IGNORECASE)
_MIXED_ID_RE: Final = re.compile(
    r"(?<![\w-])(?=[A-Za-z\d-]*\d)(?=[A-Za-z\d-]*[A-Za-z])[A-Za-z\d]+(?:-[A-Za-z\d]+)*(?![\w-])"
)
_YEAR_RE: Final = re.compile(_NOT_AFTER + r"(19\d\d|20\d\d)" + _NOT_BEFORE)
_DOTTED_RE: Final = re.compile(_NOT_AFTER + r"\d+(?:\.\d+){2,}" + _NOT_BEFORE)
_NUMBER_RE: Final = re.compile(r"(?:(?<![\w.,\-])(-))?(?<![\w.,])(" + _INT + r")(?:\.(\d+))?(?![\w]|[.,]\d)")
_NUMBER_SIGN_RE: Final = re.compile(r"#|\bno\b\.?", re.IGNORECASE)
_ANY_DIGITS_RE: Final = re.compile(r"\d+")
_PHONE_PART_RE: Final = re.compile(r"\+|\d+")
_WORDISH_RE: Final = re.compile(r"[^\W\d_]+|\d+|[^\w\s]|_")
_NEEDS_WORK_RE: Final = re.compile(r"[\d@$\u20ac\u00a3%#]|www\.|://")


def _number(value: int) -> str:
    return str(num2words(value, lang="en")).replace(",", "")


def _ordinal(value: int) -> str:
    return str(num2words(value, lang="en", to="ordinal")).replace(",", "")


def _year(value: int) -> str:
    return str(num2words(value, lang="en", to="year"))


def _digits(text: str) -> str:
    return " ".join(_DIGITS[int(c)] for c in text if c.isdigit())


def _spell(text: str) -> str:
    """Character by character: 'POL-12345' -> 'P O L one two three four five'."""
    return " ".join(_DIGITS[int(c)] if c.isdigit() else c.upper() for c in text if c.isalnum())


def _decimal(whole: str, fraction: str | None) -> str:
    spoken = _number(int(whole.replace(",", "")))
    return f"{spoken} point {_digits(fraction)}" if fraction else spoken


def _address(m: re.Match[str]) -> str:
    """E-mail addresses and URLs: words stay words, digits are read one by one, symbols named."""
    text = m.group(0).rpartition("://")[2]
    parts = (
        _digits(p) if p.isdigit() else _SYMBOLS.get(p, p if p.isalpha() else "")
        for p in _WORDISH_RE.findall(text)
    )
    return " ".join(p for p in parts if p)


def _phone(m: re.Match[str]) -> str:
    groups = _PHONE_PART_RE.findall(m.group(0))
    return ", ".join("plus" if g == "+" else _digits(g) for g in groups).replace("plus, ", "plus ")


def _date(year: int, month: int, day: int, day_first: bool) -> str | None:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return None
    if day_first:
        return f"the {_ordinal(day)} of {_MONTHS[month - 1]}, {_year(year)}"
    return f"{_MONTHS[month - 1]} {_ordinal(day)}, {_year(year)}"


def _clock(hour: int, minute: int, suffix: str) -> str:
    spoken = _number(hour)
    if minute:
        spoken += f" oh {_number(minute)}" if minute < 10 else f" {_number(minute)}"
    elif not suffix:
        spoken += " o'clock"
    return f"{spoken} {suffix}" if suffix else spoken


def _time_12(m: re.Match[str]) -> str:
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if not 1 <= hour <= 12:
        return m.group(0)
    return _clock(hour, minute, f"{m.group(3).lower()} m")


def _time_24(m: re.Match[str]) -> str:
    """'10:30' reads as written; '15:00', '03:30' and '00:15' convert to the 12-hour clock."""
    hour, minute = int(m.group(1)), int(m.group(2))
    if 1 <= hour <= 12 and not m.group(1).startswith("0"):
        return _clock(hour, minute, "")
    return _clock(hour % 12 or 12, minute, "p m" if hour >= 12 else "a m")


def _money(m: re.Match[str]) -> str:
    one, many, sub_one, sub_many = _MONEY[m.group(1)]
    whole, cents, scale = int(m.group(2).replace(",", "")), m.group(3), m.group(4)
    if scale:
        return f"{_decimal(m.group(2), cents)} {scale} {many}"
    sub = int(cents.ljust(2, "0")) if cents else 0
    main = f"{_number(whole)} {one if whole == 1 else many}"
    minor = f"{_number(sub)} {sub_one if sub == 1 else sub_many}"
    if whole and sub:
        return f"{main} and {minor}"
    return minor if sub else main


def _mixed_id(m: re.Match[str]) -> str:
    token = m.group(0)
    parts = token.split("-")
    if len(parts) > 1 and any(p.isalpha() and p.islower() for p in parts):
        # a compound such as "24-hour" or "3-day", not an identifier
        return "-".join(_number(int(p)) if p.isdigit() else p for p in parts)
    return _spell(token)


def _marked_id(m: re.Match[str]) -> str:
    """'policy #12345' -> 'policy number one two three four five'."""
    prefix = _NUMBER_SIGN_RE.sub("number", m.group(0)[: m.start(1) - m.start()]).rstrip()
    return f"{prefix} {_digits(m.group(1))}"


def _decade(m: re.Match[str]) -> str:
    digits = m.group(1)
    spoken = _year(int(digits)) if len(digits) == 4 else _number(int(digits))
    return spoken[:-1] + "ies" if spoken.endswith("y") else spoken + "s"


def _plain_number(m: re.Match[str]) -> str:
    sign = "minus " if m.group(1) else ""
    return sign + _decimal(m.group(2), m.group(3))


def _rules(day_first: bool) -> tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...]:
    def iso(m: re.Match[str]) -> str:
        return _date(int(m.group(1)), int(m.group(2)), int(m.group(3)), day_first) or m.group(0)

    def slash(m: re.Match[str]) -> str:
        a, b, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        month, day = (b, a) if day_first else (a, b)
        return _date(year, month, day, day_first) or m.group(0)

    # Order matters: the specific shapes first, bare numbers last. Every replacement is free of
    # digits, so a later rule never re-reads what an earlier one wrote.
    return (
        (_EMAIL_RE, _address),
        (_URL_RE, _address),
        (_PHONE_RE, _phone),
        (_ISO_DATE_RE, iso),
        (_SLASH_DATE_RE, slash),
        (_MONTH_DAY_RE, lambda m: f"{m.group(1)} {_ordinal(int(m.group(2)))}"),
        (_TIME_12_RE, _time_12),
        (_TIME_24_RE, _time_24),
        (_MONEY_RE, _money),
        (_PERCENT_RE, lambda m: _plain_number(m) + " percent"),
        (_MARKED_ID_RE, _marked_id),
        (_STATE_ZIP_RE, lambda m: m.group(0)[: m.start(1) - m.start()] + _digits(m.group(1))),
        (_DECADE_RE, _decade),
        (_ORDINAL_RE, lambda m: _ordinal(int(m.group(1).replace(",", "")))),
        (_MIXED_ID_RE, _mixed_id),
        (_DIGIT_ID_RE, lambda m: _digits(m.group(0))),
        (_YEAR_RE, lambda m: _year(int(m.group(1)))),
        (_DOTTED_RE, lambda m: " point ".join(_number(int(p)) for p in m.group(0).split("."))),
        (_NUMBER_RE, _plain_number),
        (_ANY_DIGITS_RE, lambda m: _digits(m.group(0))),
    )


_RULES: Final = {False: _rules(day_first=False), True: _rules(day_first=True)}


def normalize_for_speech(text: str, locale: str = "en") -> str:
    """Rewrite `text` the way a person would say it, for a TTS voice that reads literally.

    English only (`en`, or `en_XX`/`en-XX`); locales such as en_GB read d/m/y dates and say
    "the fifth of March". 24-hour times are said on the 12-hour clock ("15:00" -> "three p m").
    Tokens mixing letters and digits are spelled out, which also spells units like "5kg".
    """
    tag = locale.replace("-", "_").lower()
    if tag != "en" and not tag.startswith("en_"):
        raise ValueError(f"locale must be an English locale such as 'en' or 'en_GB', got {locale!r}")
    if _NEEDS_WORK_RE.search(text) is None:
        return text
    for pattern, replace in _RULES[tag in _DAY_FIRST]:
        text = pattern.sub(replace, text)
    return text
