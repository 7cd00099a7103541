"""Making a call document fit a store's size limit (a Cosmos DB item is at most 2 MB).

A document grows by about 0.9 KB per turn once its raw events are bounded by ``[history]
max_events`` (docs/history.md gives the measured figures), so only a call of thousands of turns
reaches a limit of 2 MB. A store must never answer such a call with a write that fails for ever
(the batch would be redelivered for ever and the call's later events never stored): it shrinks
the document instead, in the order that loses least, and the document says what was left out.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import msgspec

from artagent.history.document import CallDocument
from artagent.history.fold import derive_fields

__all__ = ["DocumentTooLargeError", "fit_document"]

_SIZE = msgspec.json.Encoder().encode


class DocumentTooLargeError(ValueError):
    """Even with every list emptied the document does not fit (its other parts are too large)."""


def fit_document(doc: CallDocument, size_of: Callable[[CallDocument], int], budget: int) -> CallDocument:
    """``doc`` shrunk (in place) until ``size_of(doc) <= budget``: first its raw events, halved
    (keeping the first and last) as often as needed, then its oldest transcript entries and
    tool calls, as many as the excess takes. What was dropped is counted in ``events_omitted``,
    ``transcript_omitted`` and ``tool_calls_omitted``. Raises :class:`DocumentTooLargeError`
    when nothing more can go."""
    size = size_of(doc)
    while size > budget and doc.events:
        keep = len(doc.events) // 2
        del doc.events[keep // 2 : len(doc.events) - (keep - keep // 2)]
        derive_fields(doc)
        size = size_of(doc)
    while size > budget:
        if not doc.transcript and not doc.tool_calls:
            raise DocumentTooLargeError(
                f"call {doc.call_id!r}: {size} bytes even without its transcript (limit {budget})"
            )
        _drop_oldest(doc, excess=size - budget + budget // 100)
        derive_fields(doc)
        size = size_of(doc)
    return doc


def _drop_oldest(doc: CallDocument, excess: int) -> None:
    """Drop the oldest transcript entries and tool calls (by ``seq``) worth ``excess`` bytes."""
    merged = heapq.merge(
        ((t.seq, 0, len(_SIZE(t))) for t in doc.transcript),
        ((c.seq, 1, len(_SIZE(c))) for c in doc.tool_calls),
    )
    dropped, counts = 0, [0, 0]
    for _, which, size in merged:
        if dropped >= excess:
            break
        counts[which] += 1
        dropped += size + 1  # the comma
    del doc.transcript[: counts[0]]
    del doc.tool_calls[: counts[1]]
    doc.transcript_omitted += counts[0]
    doc.tool_calls_omitted += counts[1]
