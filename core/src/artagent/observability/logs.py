"""Logs an operator can follow call by call: every record made inside a call names it.

A call's identity lives in a context variable set by whoever runs the call (the launcher,
through :func:`call_logging`); asyncio copies the context into every task the call starts, so
a record logged from the reply task, a tool or a provider carries the call without anything
being passed down. :class:`CallContextFilter` copies it (``call_id``, ``agent``, ``turn``) and
the current span's ids (``trace_id``, ``span_id``) onto each record, and the handler writes
either one JSON object per line (for a log pipeline) or a line a person reads.

What never goes to the logs: caller audio (nothing here logs frames), secrets (query strings
of uvicorn's request lines are masked: the ACS and browser URLs carry signed tokens there),
and what was said unless ``[observability] log_transcripts`` asks for it (logger
``artagent.transcripts``, at DEBUG).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

import msgspec
from opentelemetry import trace

from artagent.config import ObservabilityConfig

__all__ = [
    "TRANSCRIPTS",
    "CallContextFilter",
    "JsonFormatter",
    "TextFormatter",
    "call_logging",
    "configure_logging",
]

TRANSCRIPTS = "artagent.transcripts"
"""The logger of what callers and agents say: silent unless ``log_transcripts`` is on."""


@dataclass(frozen=True)
class CallLogContext:
    """The call a record belongs to; agent and turn are read when a record is made (they change
    during the call: a handoff, the next turn)."""

    call_id: str
    agent: Callable[[], str]
    turn: Callable[[], int]


# A context variable is module-level by nature (the context is what varies, per task).
_CALL: contextvars.ContextVar[CallLogContext | None] = contextvars.ContextVar("artagent_call", default=None)


@contextmanager
def call_logging(
    call_id: str, *, agent: Callable[[], str] = lambda: "", turn: Callable[[], int] = lambda: 0
) -> Iterator[None]:
    """Records made in this block (and in tasks started from it) belong to ``call_id``."""
    token = _CALL.set(CallLogContext(call_id, agent, turn))
    try:
        yield
    finally:
        _CALL.reset(token)


_QUERY_VALUE = re.compile(r"([?&][^=&\s\"]+)=(?!\*\*\*)[^&\s\"]*")
_KEPT_PARAMS = ("?call", "&call")
"""Query parameters whose value is an identifier, not a credential."""


def _mask_query(text: str) -> str:
    return _QUERY_VALUE.sub(lambda m: m.group(0) if m.group(1) in _KEPT_PARAMS else f"{m.group(1)}=***", text)


class CallContextFilter(logging.Filter):
    """Adds ``call_id``, ``agent``, ``turn``, ``trace_id`` and ``span_id`` to every record (None
    outside a call or a span), and masks query-string values in uvicorn's records."""

    def filter(self, record: logging.LogRecord) -> bool:
        call = _CALL.get()
        record.call_id = call.call_id if call else None
        record.agent = (call.agent() or None) if call else None
        record.turn = call.turn() if call else None
        context = trace.get_current_span().get_span_context()
        record.trace_id = f"{context.trace_id:032x}" if context.is_valid else None
        record.span_id = f"{context.span_id:016x}" if context.is_valid else None
        if record.name.startswith("uvicorn") and record.args:
            record.args = tuple(_mask_query(a) if isinstance(a, str) else a for a in record.args)
        return True


_CONTEXT_FIELDS = ("call_id", "agent", "turn", "trace_id", "span_id")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: ``ts``, ``level``, ``logger``, ``message``, the
    call's fields when the record was made inside a call, and ``exception`` with a traceback."""

    def __init__(self) -> None:
        super().__init__()
        self._encoder = msgspec.json.Encoder()

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                doc[name] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            doc["stack"] = record.stack_info
        return self._encoder.encode(doc).decode()


class TextFormatter(logging.Formatter):
    """``12:00:01.042 INFO    artagent.session [call-42 AuthAgent #3] message`` for people."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s %(call)s%(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        call_id = getattr(record, "call_id", None)
        call = ""
        if call_id is not None:
            agent, turn = getattr(record, "agent", None), getattr(record, "turn", None)
            call = "[" + " ".join(str(p) for p in (call_id, agent, f"#{turn}" if turn else None) if p) + "] "
        record.call = call
        return super().format(record)


def configure_logging(config: ObservabilityConfig, stream: TextIO | None = None) -> logging.Handler:
    """Send every logger's records to ``stream`` (stderr) in ``config.log_format``, at
    ``log_level`` with ``log_levels`` per logger; replaces a handler this function installed
    before. Returns the handler."""
    stream = stream if stream is not None else sys.stderr
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "artagent", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream)
    handler.artagent = True  # type: ignore[attr-defined]
    handler.addFilter(CallContextFilter())
    json_lines = config.log_format == "json" or (config.log_format == "auto" and not _is_tty(stream))
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root.addHandler(handler)
    root.setLevel(config.log_level)
    for name, level in config.log_levels.items():
        logging.getLogger(name).setLevel(level)
    # Last, so that no per-logger level can let transcripts out when they are off.
    transcripts = logging.getLogger(TRANSCRIPTS)
    transcripts.setLevel(logging.DEBUG if config.log_transcripts else logging.CRITICAL + 1)
    return handler


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
