"""A provider-neutral VoiceSpec (name, style, rate) written as Azure SSML.

The style becomes ``mstts:express-as`` and the rate a relative ``prosody rate`` ("+20%");
neither element is written when it would change nothing, so a plain request stays the plain
``<speak><voice>text</voice></speak>`` Azure documents. The text and every attribute are
XML-escaped: what the model wrote is spoken, never interpreted as markup.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from artagent.providers import VoiceSpec

__all__ = ["build_ssml", "prosody_rate", "voice_locale"]

_SPEAK = (
    '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" '
    'xmlns:mstts="http://www.w3.org/2001/mstts" xml:lang={lang}>'
)
MIN_RATE, MAX_RATE = 0.5, 2.0
"""Azure's usable range of relative speaking rates."""


def voice_locale(voice: str) -> str:
    """en-US-AvaNeural -> en-US (the document's language); en-US for names without one."""
    parts = voice.split("-")
    return f"{parts[0]}-{parts[1]}" if len(parts) >= 3 else "en-US"


def prosody_rate(rate: float) -> str | None:
    """1.2 -> "+20%", 0.9 -> "-10%"; None for the voice's own rate. Clamped to Azure's range."""
    clamped = min(MAX_RATE, max(MIN_RATE, rate))
    percent = round((clamped - 1.0) * 100)
    return None if percent == 0 else f"{percent:+d}%"


def build_ssml(text: str, voice: VoiceSpec | None, *, default_voice: str) -> str:
    """The SSML document that speaks ``text`` with ``voice`` (or ``default_voice``)."""
    spec = voice or VoiceSpec()
    name = spec.name or default_voice
    body = escape(text)
    rate = prosody_rate(spec.rate)
    if rate is not None:
        body = f"<prosody rate={quoteattr(rate)}>{body}</prosody>"
    if spec.style:
        body = f"<mstts:express-as style={quoteattr(spec.style)}>{body}</mstts:express-as>"
    speak = _SPEAK.format(lang=quoteattr(voice_locale(name)))
    return f"{speak}<voice name={quoteattr(name)}>{body}</voice></speak>"
