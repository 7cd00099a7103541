"""The one error the providers raise: Azure Speech refused or failed, and why."""

from __future__ import annotations

__all__ = ["AzureSpeechError"]

_HINTS = {
    "AuthenticationFailure": "check the key named by plugins.azure_speech.key_env, or the Entra ID "
    "identity's 'Cognitive Services User' role on the resource",
    "ConnectionFailure": "check plugins.azure_speech.region / endpoint / host and the network",
    "Forbidden": "the identity may not use this resource, or its quota is exhausted",
    "TooManyRequests": "the resource's concurrency or rate limit was reached",
    "BadRequest": "the service refused the request (language, voice or SSML)",
}


class AzureSpeechError(RuntimeError):
    """Recognition or synthesis was cancelled by an error; ``code`` is the SDK's error code."""

    def __init__(self, what: str, code: str, details: str) -> None:
        self.code = code
        self.details = details
        hint = _HINTS.get(code)
        super().__init__(f"Azure Speech {what} failed ({code}): {details}" + (f"; {hint}" if hint else ""))
