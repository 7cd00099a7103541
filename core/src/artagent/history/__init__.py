"""Call history: every call's events folded into one document, kept by a pluggable store.

The public API others build on: :class:`CallDocument` (and its parts), :class:`CallHistoryStore`
(the Protocol a store implements), :class:`StoreSpec` (what the ``register_stores`` hook
returns), :func:`fold_events` (what every store folds with), :class:`CallHistory`
(``runtime.history``) and :func:`call_detail` (one call, live or from the store, as
``GET /api/v1/calls/{call_id}`` shows it). See docs/history.md.
"""

from artagent.history.bounds import DocumentTooLargeError, fit_document
from artagent.history.document import (
    CallDetail,
    CallDocument,
    CallLatency,
    CallPage,
    CallQuery,
    CallSummary,
    ErrorRecord,
    Escalation,
    Handoff,
    Interruption,
    LatencySummary,
    TokenUsage,
    ToolCallRecord,
    TranscriptEntry,
    epoch_micros,
    sort_key,
)
from artagent.history.fold import HISTORY_EVENT_TYPES, fold_events
from artagent.history.live import call_detail
from artagent.history.service import CallHistory, HistoryDisabledError, InvalidCursorError
from artagent.history.store import CallHistoryStore, StoreContext, StoreRegistry, StoreSpec

__all__ = [
    "HISTORY_EVENT_TYPES",
    "CallDetail",
    "CallDocument",
    "CallHistory",
    "CallHistoryStore",
    "CallLatency",
    "CallPage",
    "CallQuery",
    "CallSummary",
    "DocumentTooLargeError",
    "ErrorRecord",
    "Escalation",
    "Handoff",
    "HistoryDisabledError",
    "Interruption",
    "InvalidCursorError",
    "LatencySummary",
    "StoreContext",
    "StoreRegistry",
    "StoreSpec",
    "TokenUsage",
    "ToolCallRecord",
    "TranscriptEntry",
    "call_detail",
    "epoch_micros",
    "fit_document",
    "fold_events",
    "sort_key",
]
