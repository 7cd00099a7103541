"""Understanding what a caller said, for the offline flow engine: values, yes/no, corrections,
intents. Pure functions over the transcript of one turn; no model, no network, no state.

Written for speech recognition output (faster-whisper ``tiny.en``): lower- or sentence-case,
unreliable punctuation, numbers as words or digits ("98052", "nine eight zero five two",
"twenty twenty two", "double five"), fillers ("um", "uh"), misspelt names.

The API, for the engine:

``extract(field, utterance, *, context, expected=True) -> Extraction | None``
    One field's value. ``field`` is any object with the attributes of :class:`FieldLike`
    (``name``, ``type``, ``length``, ``options``, ``aliases``, ``counts_caller``);
    :class:`FieldSpec` is one. ``expected`` says the question just asked was about this field,
    so a bare answer ("three", "Jane", "yes") counts. Types: text, name, digits, zip, date,
    time, datetime, yes_no, choice, integer, count, address, street, city, state, vehicle.
``extract_many(fields, utterance, *, context, expected=None, collected=None) -> dict[str, Extraction]``
    Every field the answer gives, each span used once ("yesterday at 3 pm on Main Street in
    Seattle, my 2020 Honda Civic" fills date, time, address and vehicle).
``detect_correction(utterance, fields, collected, *, context) -> Correction | None``
    "no, it was Tuesday", "actually the ZIP is 98052", "sorry, I meant Honda not Toyota".
``read_confirmation(utterance, fields, collected, *, context) -> Confirmation``
    The answer to a read-back: confirmed, denied, or corrected (with the corrections).
``detect_yes_no(utterance, *, yes=(), no=()) -> YesNo | None``
    Yes or no for confirmations; ``YesNo.span`` shows what the rest of the answer carries.
``match_intent(utterance, intents, *, threshold=0.72) -> IntentMatch | None``
    Handoffs, escalation and knowledge questions from example phrases.
``detect_emergency(utterance) -> IntentMatch | None``
    An injury emergency ("someone is hurt, there's blood"), never left to examples.
``match_name(heard, known, *, threshold=0.8) -> (name, score) | None``
    A heard name against known ones, by spelling and by sound.
``warm_up()``
    Loads dateparser's data (about 150 ms) at start-up instead of in the first call.

``ExtractContext(now=aware datetime, vehicles=policy vehicles, caller_name=...)`` carries what
understanding depends on: "yesterday" is relative to ``now`` and comes back in its timezone.
"""

from __future__ import annotations

from artagent_flows.extract.answers import extract_many
from artagent_flows.extract.corrections import Confirmation, detect_correction, read_confirmation
from artagent_flows.extract.dates import warm_up
from artagent_flows.extract.fields import extract
from artagent_flows.extract.intents import detect_emergency, match_intent
from artagent_flows.extract.names import match_name
from artagent_flows.extract.spec import (
    FIELD_TYPES,
    Address,
    Correction,
    ExtractContext,
    Extraction,
    FieldLike,
    FieldSpec,
    FieldType,
    IntentMatch,
    Value,
    Vehicle,
)
from artagent_flows.extract.tokens import tokenize
from artagent_flows.extract.yesno import YesNo, read_yes_no


def detect_yes_no(utterance: str, *, yes: tuple[str, ...] = (), no: tuple[str, ...] = ()) -> YesNo | None:
    """Yes or no in an utterance ("yeah", "that's right", "nope", "I don't think so")."""
    return read_yes_no(tokenize(utterance), yes=yes, no=no)


__all__ = [
    "FIELD_TYPES",
    "Address",
    "Confirmation",
    "Correction",
    "ExtractContext",
    "Extraction",
    "FieldLike",
    "FieldSpec",
    "FieldType",
    "IntentMatch",
    "Value",
    "Vehicle",
    "YesNo",
    "detect_correction",
    "detect_emergency",
    "detect_yes_no",
    "extract",
    "extract_many",
    "match_intent",
    "match_name",
    "read_confirmation",
    "warm_up",
]
