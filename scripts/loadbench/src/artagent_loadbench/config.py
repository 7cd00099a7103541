"""The ``[plugins.loadbench]`` table: the script and the providers' fixed latencies."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["LoadBenchConfig"]

Seconds = Annotated[float, msgspec.Meta(ge=0, le=10)]


class LoadBenchConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    script: str = ""
    """The callers' script (JSON, written by scripts/bench_load.py): the utterances' texts."""
    stt_final_s: Seconds = 0.3
    """The final transcript comes this long after the VAD said the caller stopped."""
    model_first_token_s: Seconds = 0.4
    """The model's first token comes this long after a caller turn's request."""
    tts_first_audio_s: Seconds = 0.15
    """A synthesis's first audio comes this long after it was asked for."""
    seconds_per_char: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.065
    """Length of the synthesised audio per character of text (about Piper's pace)."""
