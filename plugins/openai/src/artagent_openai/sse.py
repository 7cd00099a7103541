"""Server-sent events out of a response's bytes, as they arrive.

The router reads chat completion streams itself rather than through the ``openai`` client's
``AsyncStream``, which builds a pydantic model of every chunk: that cost more than the rest of
the reply's path together (see docs/openai.md). This parser follows the event-stream format of
the HTML standard, as far as a client that never reconnects needs it: lines end in LF, CRLF or
CR (a CRLF may be cut between two reads); ``data`` lines of one event are joined with LF; an
``event`` line names the event; a line starting with ``:`` is a comment (a keep-alive); ``id``,
``retry`` and unknown fields are ignored; a blank line dispatches the event, and an event
without any ``data`` line is none. An event that the stream's end cuts short is dropped.

It stays in bytes, so that ``msgspec`` decodes the data without a detour through ``str``.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["EventParser", "ServerSentEvent"]


class ServerSentEvent(NamedTuple):
    event: str
    """The ``event`` field; ``message`` when the event had none."""
    data: bytes


class EventParser:
    """Feed it a response's bytes in order; it returns each event as soon as it is complete."""

    __slots__ = ("_cr_ended", "_data", "_event", "_partial")

    def __init__(self) -> None:
        self._partial = b""
        """The start of a line whose end has not arrived yet."""
        self._cr_ended = False
        """The last bytes ended in CR: an LF starting the next ones is the rest of a CRLF."""
        self._data: list[bytes] = []
        self._event = ""

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        if self._cr_ended and data[:1] == b"\n":
            data = data[1:]
        self._cr_ended = data[-1:] == b"\r"
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        if self._partial:
            lines[0] = self._partial + lines[0]
        self._partial = lines.pop()
        events: list[ServerSentEvent] = []
        for line in lines:
            if line:
                self._field(line)
            elif self._data:
                events.append(ServerSentEvent(self._event or "message", b"\n".join(self._data)))
                self._data, self._event = [], ""
            else:
                self._event = ""
        return events

    def _field(self, line: bytes) -> None:
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        # b"" (a comment), b"id", b"retry", anything else: nothing a reply needs.
