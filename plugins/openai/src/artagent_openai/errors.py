"""What a router raises, so the session (and an operator reading ``error_occurred``) can tell
why a reply failed."""

from __future__ import annotations

__all__ = ["ModelResponseError", "ModelRouterError", "NoModelAnsweredError"]


class ModelRouterError(RuntimeError):
    """A model router could not produce (the rest of) a reply."""


class NoModelAnsweredError(ModelRouterError):
    """Every model was tried (each with its retries) and none answered; nothing was said yet."""

    def __init__(self, router: str, attempts: list[str]) -> None:
        self.router, self.attempts = router, attempts
        super().__init__(f"model router {router!r}: no model answered: " + "; ".join(attempts))


class ModelResponseError(ModelRouterError):
    """A response went wrong after it started (broken stream, tool arguments that are not JSON):
    it is not retried, since the caller may already have heard its beginning."""
