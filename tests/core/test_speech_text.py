"""From streamed model text to what TTS should say: clause chunking and normalisation for speech."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest
from artagent.speech_text import ClauseChunker, normalize_for_speech


def chunk(deltas: list[str], **kwargs: int) -> list[str]:
    chunker = ClauseChunker(**kwargs)
    pieces = [p for d in deltas for p in chunker.feed(d)]
    return pieces + chunker.flush()


def words(text: str) -> Counter[str]:
    return Counter(re.findall(r"[\w'@.-]*\w", text.lower()))


RESPONSES = [
    "Sure, I can help with that. Your balance is $1,200.50 as of today. Anything else?",
    "Okay, let me check that policy for you, it will take a moment. Dr. Smith will call at 9 a.m. "
    "tomorrow. Mr. Jones said, e.g. this, is fine. Email john.doe@example.com. "
    "Visit https://example.com/a.b?x=1 now. It's 3.5 miles from St. Louis.",
    'Well... I think so. Wait... really?! Yes!!! He said "stop." Then (in brackets.) It ended',
    "Here are your options:\n1. Pay online\n2. Pay by phone\n\nWhich one works best for you?",
    "I can do that \u2014 but first, tell me your name; then we continue. We met at 9 a.m. Then we left.",
    "Your claim number is CLM-2024-0042, and the office at No. 5 Main St. opens at 10:30. "
    "J. R. R. Tolkien wrote it. It costs approx. 5 dollars \u2026 or so. Thanks!",
    "The total is 3. The next one is 4.5. Done",
]


# ---- ClauseChunker: what it emits ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            RESPONSES[0],
            ["Sure, I can help with that.", "Your balance is $1,200.50 as of today.", "Anything else?"],
        ),
        (
            RESPONSES[1],
            [
                "Okay, let me check that policy for you,",
                "it will take a moment.",
                "Dr. Smith will call at 9 a.m. tomorrow.",
                "Mr. Jones said, e.g. this, is fine.",
                "Email john.doe@example.com.",
                "Visit https://example.com/a.b?x=1 now.",
                "It's 3.5 miles from St. Louis.",
            ],
        ),
        (
            RESPONSES[2],
            [
                "Well...",
                "I think so.",
                "Wait... really?!",
                "Yes!!!",
                'He said "stop."',
                "Then (in brackets.)",
                "It ended",
            ],
        ),
        (
            RESPONSES[3],
            ["Here are your options:", "1. Pay online", "2. Pay by phone", "Which one works best for you?"],
        ),
        (
            RESPONSES[4],
            [
                "I can do that \u2014",
                "but first, tell me your name; then we continue.",
                "We met at 9 a.m.",
                "Then we left.",
            ],
        ),
        (
            RESPONSES[5],
            [
                "Your claim number is CLM-2024-0042,",
                "and the office at No. 5 Main St. opens at 10:30.",
                "J. R. R. Tolkien wrote it.",
                "It costs approx. 5 dollars \u2026 or so.",
                "Thanks!",
            ],
        ),
        (RESPONSES[6], ["The total is 3.", "The next one is 4.5.", "Done"]),
    ],
)
def test_clauses_of_whole_responses(text: str, expected: list[str]) -> None:
    assert chunk([text]) == expected


@pytest.mark.parametrize("text", RESPONSES)
def test_every_split_point_gives_the_same_clauses(text: str) -> None:
    expected = chunk([text])
    for i in range(len(text) + 1):
        assert chunk([text[:i], text[i:]]) == expected, i
    assert chunk(list(text)) == expected


@pytest.mark.parametrize("text", RESPONSES)
def test_random_token_streams_give_the_same_clauses(text: str) -> None:
    expected = chunk([text])
    rng = random.Random(text)
    for _ in range(50):
        cuts = sorted(rng.sample(range(len(text) + 1), k=min(len(text) + 1, rng.randint(1, 30))))
        deltas = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert chunk(deltas) == expected


@pytest.mark.parametrize(
    "sentence",
    [
        "The rate is 3.5 percent today.",
        "You owe $1,200.50 in total.",
        "Mr. Smith and Mrs. Smith met Dr. Who at St. Mary's.",
        "Bring something, e.g. a passport or i.e. an ID card.",
        "We open at 9 a.m. and close at 5 p.m. every day.",
        "Write to john.doe@example.com or jane_doe@mail.example.org today.",
        "Go to https://www.example.com/path/file.html?q=1.5 for details.",
        "Version 2.10.3 is out.",
        "Pi is about 3.14159 and e is about 2.718.",
    ],
)
def test_never_splits_inside_numbers_abbreviations_and_addresses(sentence: str) -> None:
    assert chunk([sentence]) == [sentence]
    assert chunk(list(sentence)) == [sentence]


def test_first_clause_is_emitted_as_soon_as_the_next_word_starts() -> None:
    chunker = ClauseChunker()
    assert chunker.feed("Let me look that up for you,") == []
    assert chunker.feed(" ") == []  # could still be "you,\"" or more space
    assert chunker.feed("it") == ["Let me look that up for you,"]
    assert chunker.feed(" takes a second, maybe two") == []  # only sentences from now on
    assert chunker.feed(". OK") == ["it takes a second, maybe two."]
    assert chunker.flush() == ["OK"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sure, I can do that for you.", ["Sure, I can do that for you."]),  # one word is too short
        ("Yes. Of course, anything for you.", ["Yes.", "Of course, anything for you."]),
        ("One two three four; five six.", ["One two three four;", "five six."]),
        ("One two three four: five six.", ["One two three four:", "five six."]),
        ("One two three four - five six.", ["One two three four -", "five six."]),
        ("One two three four \u2013 five six.", ["One two three four \u2013", "five six."]),
        ("One two three four\u2014five six.", ["One two three four\u2014", "five six."]),
        ("A well-known three-step plan, then more.", ["A well-known three-step plan,", "then more."]),
    ],
)
def test_first_clause_needs_enough_words_and_a_clause_mark(text: str, expected: list[str]) -> None:
    assert chunk([text]) == expected


def test_min_clause_words_is_configurable() -> None:
    assert chunk(["Sure, I can do that."], min_clause_words=1) == ["Sure,", "I can do that."]
    text = "Well now, let me see what we have here, shall we."
    assert chunk([text], min_clause_words=10) == [text]
    assert chunk([text], min_clause_words=9) == ["Well now, let me see what we have here,", "shall we."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Really? Yes!", ["Really?", "Yes!"]),
        ("What?! No way!!", ["What?!", "No way!!"]),
        ("Hmm\u2026 Right.", ["Hmm\u2026", "Right."]),
        ("I was thinking... maybe not.", ["I was thinking... maybe not."]),
        ("Line one\nLine two\r\n\r\nLine three", ["Line one", "Line two", "Line three"]),
        ("Done.  \n  Next.", ["Done.", "Next."]),
        ('"Hello there." She left.', ['"Hello there."', "She left."]),
        ("Call us at 5 p.m. Tomorrow is fine.", ["Call us at 5 p.m.", "Tomorrow is fine."]),
        ("Acme Inc. is great. Contoso Ltd. Is too.", ["Acme Inc. is great.", "Contoso Ltd.", "Is too."]),
        ("Ask for Apt. 5 at the desk.", ["Ask for Apt. 5 at the desk."]),
    ],
)
def test_sentence_ends(text: str, expected: list[str]) -> None:
    assert chunk([text]) == expected


def test_long_run_without_punctuation_is_cut_at_word_boundaries() -> None:
    text = " ".join(f"word{i}" for i in range(200))
    pieces = chunk([text], max_chars=60)
    assert len(pieces) > 10
    assert all(len(p) <= 60 for p in pieces)
    assert " ".join(pieces).split() == text.split()
    assert chunk(list(text), max_chars=60) == pieces


def test_long_run_prefers_its_last_clause_mark() -> None:
    text = "then it goes on, and on and on, and it never stops at all until the very end of the line"
    chunker = ClauseChunker(max_chars=40)
    assert chunker.feed("Done! ") == []
    assert chunker.feed("t") == ["Done!"]  # the first piece is gone, so commas alone no longer split
    assert chunker.feed(text[1:]) == [
        "then it goes on, and on and on,",
        "and it never stops at all until the very",
    ]
    assert chunker.flush() == ["end of the line"]


def test_an_unbreakable_token_is_never_split() -> None:
    token = "x" * 100
    assert chunk([f"see {token} ok"], max_chars=20) == ["see", token, "ok"]
    assert chunk([token], max_chars=20) == [token]


def test_flush_resets_for_the_next_response() -> None:
    chunker = ClauseChunker()
    assert chunker.feed("Let me check that for you, please. And this") == [
        "Let me check that for you,",
        "please.",
    ]
    assert chunker.flush() == ["And this"]
    assert chunker.flush() == []
    assert chunker.feed("   ") == []
    assert chunker.feed("Now I will check it again, ok") == ["Now I will check it again,"]


def test_constructor_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="min_clause_words"):
        ClauseChunker(min_clause_words=0)
    with pytest.raises(ValueError, match="max_chars"):
        ClauseChunker(max_chars=3)


# ---- normalize_for_speech -----------------------------------------------------------------------

NORMALISED = {
    "cardinals": [
        ("I have 3 cats.", "I have three cats."),
        (
            "We sold 1,234,567 units",
            "We sold one million two hundred and thirty-four thousand five hundred and sixty-seven units",
        ),
        ("It is -5 degrees", "It is minus five degrees"),
        ("From 5-10 days", "From five-ten days"),
        ("0 results", "zero results"),
    ],
    "decimals": [
        ("about 3.5 miles", "about three point five miles"),
        ("pi is 3.14159", "pi is three point one four one five nine"),
        ("version 2.10.3", "version two point ten point three"),
    ],
    "ordinals": [
        ("the 1st and 2nd", "the first and second"),
        ("the 3rd, 4th and 21st", "the third, fourth and twenty-first"),
        ("your 100TH call", "your one hundredth call"),
    ],
    "currency": [
        ("$1,200.50", "one thousand two hundred dollars and fifty cents"),
        ("It costs $1.", "It costs one dollar."),
        ("$0.01 fee", "one cent fee"),
        ("$5.5", "five dollars and fifty cents"),
        ("\u20ac20 and \u20ac1.99", "twenty euros and one euro and ninety-nine cents"),
        ("\u00a31.01", "one pound and one penny"),
        ("\u00a30.75", "seventy-five pence"),
        ("$2.5 million", "two point five million dollars"),
        ("$ 300", "three hundred dollars"),
    ],
    "percentages": [
        ("50% off", "fifty percent off"),
        ("a 3.75 % rate", "a three point seven five percent rate"),
        ("-2% growth", "minus two percent growth"),
    ],
    "dates": [
        ("on 2024-03-05", "on March fifth, twenty twenty-four"),
        ("on 03/05/2024.", "on March fifth, twenty twenty-four."),
        ("due 12/31/1999", "due December thirty-first, nineteen ninety-nine"),
        ("March 5, 2024", "March fifth, twenty twenty-four"),
        ("by July 4th", "by July fourth"),
        ("on 2024-02-30", "on twenty twenty-four-zero two-thirty"),  # not a date, read as numbers
    ],
    "times": [
        ("at 3:30 pm", "at three thirty p m"),
        ("at 3:30PM.", "at three thirty p m."),
        ("at 3 p.m. Then", "at three p m. Then"),
        ("at 11am", "at eleven a m"),
        ("at 3:05 a.m.", "at three oh five a m."),
        ("at 15:00", "at three p m"),
        ("at 15:45", "at three forty-five p m"),
        ("at 00:15", "at twelve fifteen a m"),
        ("at 09:00", "at nine a m"),
        ("at 10:30", "at ten thirty"),
        ("at 12:00", "at twelve o'clock"),
    ],
    "emails and urls": [
        ("john.doe@example.com", "john dot doe at example dot com"),
        ("mail a_b42@x-y.co.uk now", "mail a underscore b four two at x dash y dot co dot uk now"),
        ("see https://example.com/claims/7", "see example dot com slash claims slash seven"),
        ("www.contoso.com.", "www dot contoso dot com."),
    ],
    "identifiers": [
        ("POL-12345", "P O L one two three four five"),
        ("claim CLM-2024-0042 is open", "claim C L M two zero two four zero zero four two is open"),
        ("code A1B2", "code A one B two"),
        ("your policy number is 12345", "your policy number is one two three four five"),
        ("order #5521", "order number five five two one"),
        ("account no. 77 3", "account number seven seven three"),
        ("ZIP code 98052", "ZIP code nine eight zero five two"),
        ("Seattle, WA 98052", "Seattle, WA nine eight zero five two"),
        ("zip 98052-1234", "zip nine eight zero five two one two three four"),
        ("ref 0042", "ref zero zero four two"),
        ("card 4111111111111111", "card four one one one one one one one one one one one one one one one"),
        ("a 24-hour line", "a twenty-four-hour line"),
    ],
    "phone numbers": [
        ("+1 555 123 4567", "plus one, five five five, one two three, four five six seven"),
        ("call (555) 123-4567.", "call five five five, one two three, four five six seven."),
        ("555.123.4567", "five five five, one two three, four five six seven"),
    ],
    "years": [
        ("in 1999", "in nineteen ninety-nine"),
        ("since 2024.", "since twenty twenty-four."),
        ("in 2000", "in two thousand"),
        ("in 1905", "in nineteen oh-five"),
        ("the 1990s and the 80s", "the nineteen nineties and the eighties"),
        ("about 1800 people", "about one thousand eight hundred people"),
        ("about 2,024 people", "about two thousand and twenty-four people"),
    ],
}


@pytest.mark.parametrize(
    ("text", "expected"), [pair for rule in NORMALISED.values() for pair in rule], ids=lambda v: str(v)[:40]
)
def test_normalize_for_speech(text: str, expected: str) -> None:
    assert normalize_for_speech(text) == expected


def test_normalised_text_has_no_digits_left() -> None:
    for text, _ in (pair for rule in NORMALISED.values() for pair in rule):
        assert not re.search(r"\d", normalize_for_speech(text)), text


@pytest.mark.parametrize(
    "text",
    [
        "Hello there, how can I help?",
        "Mr. Smith's e.g. list: a, b; c - d!",
        "",
        "   ",
        "Caf\u00e9 cr\u00e8me?\n",
    ],
)
def test_text_without_anything_to_normalise_is_unchanged(text: str) -> None:
    assert normalize_for_speech(text) == text


def test_day_first_locales() -> None:
    assert (
        normalize_for_speech("on 05/03/2024", locale="en_GB") == "on the fifth of March, twenty twenty-four"
    )
    assert (
        normalize_for_speech("on 2024-03-05", locale="en-GB") == "on the fifth of March, twenty twenty-four"
    )
    assert normalize_for_speech("on 05/03/2024", locale="en-US") == "on May third, twenty twenty-four"


@pytest.mark.parametrize("locale", ["fr", "de_DE", "english", ""])
def test_unsupported_locale_is_rejected(locale: str) -> None:
    with pytest.raises(ValueError, match="locale"):
        normalize_for_speech("5", locale=locale)


def test_normalising_is_deterministic_and_idempotent() -> None:
    text = "Pay $1,200.50 by 2024-03-05 at 3:30 pm, policy POL-12345, call +1 555 123 4567."
    once = normalize_for_speech(text)
    assert once == normalize_for_speech(text)
    assert normalize_for_speech(once) == once


# ---- chunker and normaliser together --------------------------------------------------------------

VOCABULARY = (
    "I you we can will check the policy claim office today tomorrow please thanks sure okay "
    "Mr. Dr. St. e.g. a.m. approx. it's don't John's well-known"
).split()
MARKS = ["", "", "", ",", ".", "?", "!", "...", ";", ":", " -", "\n", "\u2014"]


def generated_response(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 60)):
        word = rng.choice(VOCABULARY)
        parts.append(word.capitalize() if rng.random() < 0.2 else word)
        parts.append(rng.choice(MARKS) + rng.choice([" ", " ", "  ", "\n"]))
    return "".join(parts)


def test_chunker_and_normaliser_never_drop_or_duplicate_words() -> None:
    rng = random.Random(2024)
    for _ in range(300):
        text = generated_response(rng)
        cuts = sorted(rng.sample(range(len(text) + 1), k=min(len(text) + 1, rng.randint(0, 40))))
        deltas = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        max_chars = rng.choice([40, 80, 250])
        pieces = chunk(deltas, max_chars=max_chars)
        assert pieces == chunk([text], max_chars=max_chars)
        assert " ".join(pieces).split() == text.split(), text
        spoken = [normalize_for_speech(p) for p in pieces]
        assert words(" ".join(spoken)) == words(text), text


@pytest.mark.parametrize("text", [t for t in RESPONSES if not re.search(r"[\d@$%#]|://", t)])
def test_sample_responses_keep_their_words(text: str) -> None:
    pieces = chunk(list(text))
    assert words(" ".join(normalize_for_speech(p) for p in pieces)) == words(text)
