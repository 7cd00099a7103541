"""What the simulated callers say, and how their audio says which utterance it carries.

The load benchmark's callers speak recorded utterances of known text. Every 20 ms frame of
utterance ``i`` starts with the same 8 bytes, :func:`marker` ``(i)``: four PCM16 samples of at
most 13 (about -68 dBFS, far below what a VAD calls speech), a pattern natural audio does not
produce. The scripted recogniser reads the marker of the frames it is pushed and, when the
VAD says the caller stopped, returns the text of the utterance it heard. Standard library only:
the Pipecat bot of the benchmark reads it too, from another virtualenv.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

__all__ = ["MARK_BYTES", "marker", "marker_table", "read_texts"]

MARK_BYTES = 8


def marker(index: int) -> bytes:
    """The first 8 bytes of every frame of utterance ``index`` (0 to 999)."""
    if not 0 <= index < 1000:
        raise ValueError("utterance index out of range")
    return struct.pack("<4h", 3, -3, 5 + index // 100, 7 + index % 100)


def marker_table(count: int) -> dict[bytes, int]:
    """Marker -> utterance index, for ``count`` utterances."""
    return {marker(i): i for i in range(count)}


def read_texts(path: str | Path) -> list[str]:
    """The utterances' texts, in order, from the script file the benchmark writes
    (``{"utterances": [{"text": ...}, ...]}``)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [str(item["text"]) for item in data["utterances"]]
