"""The voice of last resort: when the realtime service is gone, ``[session] tts`` says sorry.

A call whose service failed must not end on a silent line. The runtime's own text-to-speech
(local or Azure Speech, whatever ``[session] tts`` names) speaks the failure message through the
same paced playout, as the pipeline speaks; with no TTS installed the call simply ends, with
``error_occurred`` saying why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from artagent.providers import TTSProvider, VoiceSpec
from artagent.session.playout import Clock, Playout
from artagent.session.responder import Reply, Speaker, text_clauses

__all__ = ["speak_apology"]

log = logging.getLogger(__name__)


async def speak_apology(
    tts: TTSProvider | None,
    playout: Playout,
    clock: Clock,
    text: str,
    *,
    voice: VoiceSpec | None,
    on_first_frame: Callable[[float], None],
) -> bool:
    """Say ``text`` to the caller; whether it was said (no TTS, or the TTS failing too: not)."""
    if tts is None or not text:
        return False
    speaker = Speaker(tts, playout, clock, voice=lambda: voice)
    try:
        await speaker.speak(text_clauses(text), Reply(), on_first_frame)
    except Exception:  # the last resort failed too: the call ends, error_occurred says why
        log.exception("the apology could not be spoken")
        return False
    return True
