"""When a failed request is worth repeating, and how long to wait first.

A rate limit (429), a server error (5xx, 408, 409) or a dropped connection is retried on the same
model after an exponential backoff, or after exactly what the server's ``Retry-After`` asked for.
A timeout moves straight on to the next model: a model that stalled once is likely to stall
again, and the caller is waiting. A rejected key (401, 403) stops everything, since every model
of the router shares it; so does Microsoft Entra ID giving no token. Any other refusal (400,
404: a model that does not exist, a context too long) moves on to the next model, which may
accept the request.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import openai
from azure.core.exceptions import ClientAuthenticationError

from artagent_openai.errors import ModelResponseError

__all__ = ["ENTRA_RETRY_S", "Failure", "backoff_s", "classify", "retry_after_s"]

Verdict = Literal["retry", "next", "fatal", "stop"]
"""Retry this model, try the next one, give up (the key was refused), give up (time is up)."""
_RETRIED_STATUS = frozenset({408, 409, 429})
_FATAL_STATUS = frozenset({401, 403})


@dataclass(frozen=True)
class Failure:
    verdict: Verdict
    reason: str
    """Short, for the error that lists every attempt."""
    retry_after_s: float | None = None
    unavailable_s: float | None = None
    """For a fatal failure: how long the router reports itself unavailable (``inf``: for good)."""


ENTRA_RETRY_S = 30.0
"""A router whose Entra ID sign-in failed says so this long, then tries again (the identity
endpoint may have been down for a moment; a refused key, by contrast, stays refused)."""


def classify(error: BaseException) -> Failure:
    """What to do after ``error`` ended an attempt before anything was yielded."""
    if isinstance(error, openai.APITimeoutError):
        return Failure("next", "request timed out")
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        reason = f"HTTP {status}: {_message(error.body) or error.message}"
        if status in _FATAL_STATUS:
            return Failure("fatal", f"the server refused the credentials: {reason}", unavailable_s=math.inf)
        if status in _RETRIED_STATUS or status >= 500:
            return Failure("retry", reason, retry_after_s(error.response.headers))
        return Failure("next", reason)
    if isinstance(error, openai.APIConnectionError):
        return Failure("retry", f"connection failed: {error.__cause__ or error}")
    if isinstance(error, openai.APIError):  # an error event inside the stream
        return Failure("retry", f"stream error: {error.message}")
    if isinstance(error, ModelResponseError):
        return Failure("retry", str(error))
    if isinstance(error, ClientAuthenticationError):
        first_line = str(error.message or error).splitlines()[0]
        reason = f"Microsoft Entra ID gave no token: {first_line}"
        return Failure("fatal", reason, unavailable_s=ENTRA_RETRY_S)
    raise error


def retry_after_s(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The wait a 429 or 503 asks for: ``retry-after-ms`` (OpenAI's), else ``Retry-After`` as
    seconds or as an HTTP date; ``None`` when absent or unreadable."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_s(retry: int, base_s: float, cap_s: float) -> float:
    """The wait before retry number ``retry`` (0 first): doubling from ``base_s`` up to ``cap_s``,
    the upper half jittered so that many calls rate-limited together do not return together."""
    ceiling: float = min(cap_s, base_s * 2.0**retry)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _message(body: Any) -> str:
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return ""
