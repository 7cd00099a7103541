"""Turn taking: when the caller started and stopped speaking, and when their turn is over.

Two small, pure pieces the session drives frame by frame:

- :class:`SpeechSegmenter` turns per-frame speech probabilities (any VAD) into speech-start and
  speech-stop decisions, with hysteresis so a breath or a click does not flap.
- :class:`EndpointingTurnDetector` (the built-in ``turn_detector`` named ``endpointing``) says
  how much silence ends the turn, given what the caller said so far: little after a finished
  sentence, more after "and", "um" or digits being read out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

__all__ = ["EndpointingTurnDetector", "SegmenterSettings", "SpeechSegmenter", "TurnSettings"]

Change = Literal["speech_started", "speech_stopped"]


class SegmenterSettings(msgspec.Struct, kw_only=True, frozen=True):
    threshold: float = 0.5
    """Probability at or above which a frame counts as speech."""
    release: float = 0.35
    """Probability below which a frame counts as silence again (hysteresis)."""
    start_ms: float = 60.0
    """Speech must last this long before it counts as started (filters clicks)."""
    stop_ms: float = 240.0
    """Silence must last this long before speech counts as stopped (breaths, short pauses)."""


class SpeechSegmenter:
    """Per-call speech/silence state; call :meth:`update` once per frame."""

    __slots__ = ("_run_ms", "_settings", "position_ms", "speaking", "speech_start_ms", "speech_stop_ms")

    def __init__(self, settings: SegmenterSettings | None = None) -> None:
        self._settings = settings or SegmenterSettings()
        self.speaking = False
        self.position_ms = 0.0
        """Audio time of the end of the last frame, since the call started."""
        self.speech_start_ms = 0.0
        """Where the current (or last) speech began, backdated to its first speech frame."""
        self.speech_stop_ms = 0.0
        """Where the last speech ended, backdated to its first silent frame."""
        self._run_ms = 0.0

    def update(self, probability: float, frame_ms: float = 20.0) -> Change | None:
        """Feed one frame's probability; returns a change when one is decided on this frame."""
        s = self._settings
        self.position_ms += frame_ms
        if not self.speaking:
            self._run_ms = self._run_ms + frame_ms if probability >= s.threshold else 0.0
            if self._run_ms >= s.start_ms:
                self.speaking = True
                self.speech_start_ms = self.position_ms - self._run_ms
                self._run_ms = 0.0
                return "speech_started"
            return None
        self._run_ms = self._run_ms + frame_ms if probability < s.release else 0.0
        if self._run_ms >= s.stop_ms:
            self.speaking = False
            self.speech_stop_ms = self.position_ms - self._run_ms
            self._run_ms = 0.0
            return "speech_stopped"
        return None

    @property
    def silence_ms(self) -> float:
        """How long the caller has been silent (0 while speaking)."""
        return 0.0 if self.speaking else self.position_ms - self.speech_stop_ms


class TurnSettings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    min_delay_s: float = 0.4
    """Silence that ends a turn after a complete sentence."""
    max_delay_s: float = 1.6
    """Silence that ends a turn after an unfinished one ("and", "um", digits being read)."""


_UNFINISHED = frozenset(
    "and but or so because um uh er erm like the a an my our your is are was to of for with "
    "at in on if that which who then also plus".split()
)
_SENTENCE_END = re.compile(r"[.?!]['\")\]]*$")
_LAST_WORD = re.compile(r"([\w']+)\W*$")


class EndpointingTurnDetector:
    """The built-in turn detector: a delay between ``min_delay_s`` and ``max_delay_s``."""

    def __init__(self, settings: TurnSettings | None = None) -> None:
        self.settings = settings or TurnSettings()
        if self.settings.min_delay_s > self.settings.max_delay_s:
            raise ValueError("min_delay_s must not exceed max_delay_s")

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any]) -> EndpointingTurnDetector:
        return cls(msgspec.convert(dict(raw), TurnSettings))

    def silence_needed_s(self, transcript: str) -> float:
        low, high = self.settings.min_delay_s, self.settings.max_delay_s
        text = transcript.strip().lower()
        if not text:
            return high
        last = _LAST_WORD.search(text)
        word = last.group(1) if last else ""
        if word in _UNFINISHED or word.isdigit():
            return high
        if _SENTENCE_END.search(text):
            return low
        return (low + high) / 2
