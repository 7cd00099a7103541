"""What the fake OpenAI server answers: scripted responses, rendered as OpenAI's wire format.

A test queues one response per request it expects:

- :class:`Reply`: HTTP 200 with server-sent events in OpenAI's ``chat.completion.chunk`` format:
  a role chunk, one chunk per text piece, tool calls cut into fragments (optionally interleaved
  between calls), a finish chunk, a usage chunk when the request asked for it
  (``stream_options.include_usage``), then ``data: [DONE]``. Pauses, a stall after some chunks,
  a dropped connection and Azure's content-filter prelude can be scripted.
- :class:`ErrorReply`: an error status with OpenAI's JSON error body and any headers
  (``Retry-After``).
- :class:`Stall`: nothing at all (not even headers) for a while: a server that hangs.
- :class:`RawStream`: HTTP 200 with exactly the bytes given, in the writes given: whatever a
  server may put on the wire (keep-alive comments, CRLF, data lines split, error events).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ErrorReply", "RawStream", "Reply", "Response", "Stall", "ToolCall", "sse"]


@dataclass
class ToolCall:
    """A tool call the model makes; its JSON arguments are sent ``fragment_chars`` at a time."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    """A mapping (sent as JSON) or the exact text to send (to script broken JSON)."""
    id: str = ""
    """Empty: ``call_<n>``."""
    fragment_chars: int = 3

    def argument_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, separators=(",", ":"))


@dataclass
class Reply:
    """A streamed 200 response."""

    text: Sequence[str] | str = ()
    """The content, one chunk per piece (a string: one chunk per word, spaces kept)."""
    tool_calls: Sequence[ToolCall] = ()
    interleave: bool = False
    """Send the tool calls' fragments alternately, call by call, rather than one call after another."""
    usage: tuple[int, int] = (12, 5)
    """(prompt, completion) tokens, sent in a last chunk when the request asked for usage."""
    model: str = ""
    """The ``model`` of each chunk; empty: the model the request named."""
    first_chunk_delay_s: float = 0.0
    """A pause after the headers, before the first chunk."""
    chunk_delay_s: float = 0.0
    """A pause between two chunks."""
    stall_after: int | None = None
    """Stop after this many chunks and hold the connection open for ``stall_s`` (then end it)."""
    stall_s: float = 30.0
    drop_after: int | None = None
    """Break the connection after this many chunks (no ``[DONE]``): a server that died."""
    azure_prelude: bool = False
    """Start with Azure's chunk of prompt filter results (no choices, empty model)."""

    def pieces(self) -> list[str]:
        if isinstance(self.text, str):
            return re.findall(r"\s*\S+", self.text)
        return list(self.text)

    def chunks(self, model: str, include_usage: bool) -> Iterator[dict[str, Any]]:
        """Every chunk of the response, in order."""
        model = self.model or model
        stamp = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time())}
        extra = {"usage": None} if include_usage else {}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {**stamp, "model": model, "system_fingerprint": "fp_fake", "choices": [choice], **extra}

        if self.azure_prelude:
            yield {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [],
                "prompt_filter_results": [
                    {
                        "prompt_index": 0,
                        "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}},
                    }
                ],
            }
        yield chunk({"role": "assistant", "content": "", "refusal": None})
        for piece in self.pieces():
            yield chunk({"content": piece})
        for fragment in self._fragments():
            yield chunk({"tool_calls": [fragment]})
        yield chunk({}, "tool_calls" if self.tool_calls else "stop")
        if include_usage:
            prompt, completion = self.usage
            totals = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
            yield {**stamp, "model": model, "system_fingerprint": "fp_fake", "choices": [], "usage": totals}

    def _fragments(self) -> Iterator[dict[str, Any]]:
        per_call = [list(self._call_fragments(index, call)) for index, call in enumerate(self.tool_calls)]
        if not self.interleave:
            for fragments in per_call:
                yield from fragments
            return
        for round_ in range(max((len(f) for f in per_call), default=0)):
            for fragments in per_call:
                if round_ < len(fragments):
                    yield fragments[round_]

    @staticmethod
    def _call_fragments(index: int, call: ToolCall) -> Iterator[dict[str, Any]]:
        call_id = call.id or f"call_{index}"
        yield {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        text, step = call.argument_text(), max(1, call.fragment_chars)
        for start in range(0, len(text), step):
            yield {"index": index, "function": {"arguments": text[start : start + step]}}


@dataclass
class ErrorReply:
    """An error response, with OpenAI's error body."""

    status: int
    message: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    """E.g. ``{"retry-after": "1"}`` on a 429."""

    def body(self) -> bytes:
        kind = (
            "rate_limit_exceeded"
            if self.status == 429
            else "server_error"
            if self.status >= 500
            else "invalid_request_error"
        )
        message = self.message or f"fake server error {self.status}"
        return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": kind}}).encode()


@dataclass
class Stall:
    """No response at all (no headers) for ``seconds``, then an empty 504."""

    seconds: float = 30.0


@dataclass
class RawStream:
    """A ``text/event-stream`` body sent as it is: each part in a write of its own."""

    parts: Sequence[bytes | str]
    part_delay_s: float = 0.0
    """A pause between two writes (so that the client reads them apart)."""


Response = Reply | ErrorReply | Stall | RawStream


def sse(payload: Mapping[str, Any] | str) -> bytes:
    """One server-sent event carrying ``payload`` (JSON, or a raw string such as ``[DONE]``)."""
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()
