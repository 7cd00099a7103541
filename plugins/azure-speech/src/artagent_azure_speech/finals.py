"""One final transcript for each end of speech, whatever Azure's own segmentation did.

The session engine counts the VAD's ends of speech and waits for one final result for each
before it ends the caller's turn. Azure segments on its own silence timeout, so its finals do
not line up one to one: it can merge two of the VAD's utterances into one phrase, finalise a
phrase before the VAD has seen the caller stop, or say nothing at all about a cough. The ledger
pairs them up on the audio timeline and fills the gaps with empty finals:

- an end of speech right after a final (within ``same_utterance_ms`` of its last word, and no
  partial since) is answered at once with an empty final: Azure, quicker than the VAD, had
  already finalised that utterance;
- a final whose words run past earlier ends of speech answers those with empty finals first
  (Azure merged them);
- an end of speech still unanswered ``timeout_s`` later gets an empty final.

A final that arrives with nothing to answer is passed on as is: the engine adds its words.
"""

from __future__ import annotations

from collections import deque

from artagent.providers import Transcript

__all__ = ["FinalsLedger"]


def _empty(position_ms: float) -> Transcript:
    return Transcript(text="", is_final=True, start_ms=position_ms, end_ms=position_ms)


SAME_UTTERANCE_MS = 400.0
"""A VAD's end of speech follows the last word by its stop time (240 ms by default) plus a
little; a separate utterance after a final needs Azure's segmentation silence, a word and that
stop time, so it comes later than this."""


class FinalsLedger:
    def __init__(self, timeout_s: float, same_utterance_ms: float = SAME_UTTERANCE_MS) -> None:
        self._timeout_s = timeout_s
        self._same_utterance_ms = same_utterance_ms
        self._last_final_end: float | None = None
        self._pending: deque[tuple[float, float]] = deque()
        """(audio position in ms, deadline) of each end of speech not answered yet."""
        self._settled = True
        """No partial since Azure's last final."""

    def end_of_speech(self, position_ms: float, now: float) -> list[Transcript]:
        last = self._last_final_end
        if self._settled and not self._pending and last is not None:
            if position_ms - last <= self._same_utterance_ms:
                return [_empty(position_ms)]
        self._pending.append((position_ms, now + self._timeout_s))
        return []

    def result(self, transcript: Transcript) -> list[Transcript]:
        if not transcript.is_final:
            self._settled = False
            return [transcript]
        out: list[Transcript] = []
        end_ms = transcript.end_ms if transcript.end_ms is not None else float("inf")
        while len(self._pending) > 1 and self._pending[0][0] < end_ms:
            out.append(_empty(self._pending.popleft()[0]))
        if self._pending:
            self._pending.popleft()
        self._settled = True
        self._last_final_end = transcript.end_ms
        out.append(transcript)
        return out

    def expired(self, now: float) -> list[Transcript]:
        out: list[Transcript] = []
        while self._pending and self._pending[0][1] <= now:
            out.append(_empty(self._pending.popleft()[0]))
        return out

    def next_deadline(self) -> float | None:
        return self._pending[0][1] if self._pending else None
