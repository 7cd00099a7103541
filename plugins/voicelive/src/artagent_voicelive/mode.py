"""The ``voicelive`` session mode: built once per worker, it opens one realtime session per call."""

from __future__ import annotations

from artagent.session.modes import CallSession, RealtimeCall

from artagent_voicelive.config import VoiceLiveConfig
from artagent_voicelive.connection import Credentials, TokenSource
from artagent_voicelive.session import RealtimeSession

__all__ = ["VoiceLiveMode"]


class VoiceLiveMode:
    """A :class:`~artagent.session.modes.RealtimeMode` on ``[plugins.voicelive]``.

    Built only when ``[session] mode`` or ``[session.modes]`` names ``voicelive``: that is when
    the table's required keys are checked (errors name ``plugins.voicelive.<key>``).
    """

    def __init__(
        self, config: VoiceLiveConfig, api_key: str | None, tokens: TokenSource | None = None
    ) -> None:
        config.check()
        self.config = config
        self.credentials = Credentials(config, api_key, tokens)

    def open(self, call: RealtimeCall) -> CallSession:
        return RealtimeSession(call, self.config, self.credentials)
