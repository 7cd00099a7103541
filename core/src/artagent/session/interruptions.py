"""What caller speech over the agent turns out to be: a barge-in, a false interruption, a filler.

The VAD only says that the caller made a sound. Words come later, from the recogniser. An
:class:`Interruption` follows one stretch of caller speech that began while the agent was
talking, until its words decide what it was:

- **barge-in**: the caller said something (a word that is not a filler). The agent stops.
- **false interruption**: the speech yielded no words: its final transcript came back empty,
  or the caller fell silent and ``window_s`` passed without any. A cough, a door, a click.
- **filler**: everything the caller said is in the filler list ("uh-huh", "yeah", "okay"):
  backchannel, not a turn. Only when fillers are configured.

Without fillers the agent is stopped the moment the VAD decides (the fastest barge-in); what
the speech turns out to be is only counted. With fillers the agent is *held* instead (no new
audio sent, nothing thrown away) and either stops at the first real word or goes on where it
paused after a filler or a noise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["FillerWords", "Interruption", "Outcome"]

Outcome = Literal["barge_in", "false", "filler"]
_TOKEN = re.compile(r"[\w']+")


def _canonical(text: str) -> str:
    """Lower case, letters and digits only: "Uh-huh." and "uh huh" are both "uhhuh"."""
    return "".join(_TOKEN.findall(text.lower())).replace("'", "")


class FillerWords:
    """A set of fillers, and whether a transcript holds nothing else."""

    def __init__(self, fillers: Iterable[str] = ()) -> None:
        self._fillers = frozenset(c for c in (_canonical(f) for f in fillers) if c)
        self._longest = max((len(f) for f in self._fillers), default=0)
        self._prefixes = frozenset(f[:i] for f in self._fillers for i in range(1, len(f) + 1))

    def __bool__(self) -> bool:
        return bool(self._fillers)

    def only_fillers(self, text: str) -> bool:
        """True when ``text`` is one or more fillers and nothing else ("uh-huh, yeah yeah").

        The words are joined and split again against the list (spelling varies between
        recognisers: "uh huh", "uh-huh", "uhhuh"), so a filler spread over two words counts.
        """
        joined = "".join(_canonical(word) for word in text.split())
        return bool(joined) and self._reachable(joined)[-1]

    def could_be_fillers(self, partial: str) -> bool:
        """True when a partial transcript may still turn out to be only fillers ("uh" before
        "uh-huh"): fillers, then possibly the beginning of one more."""
        joined = "".join(_canonical(word) for word in partial.split())
        if not joined:
            return False
        reachable = self._reachable(joined)
        return any(ok and joined[start:] in self._prefixes for start, ok in enumerate(reachable))

    def _reachable(self, joined: str) -> list[bool]:
        """``reachable[i]``: ``joined[:i]`` splits into fillers (word-break dynamic programming)."""
        reachable = [True] + [False] * len(joined)
        if not self._fillers:
            return reachable
        for end in range(1, len(joined) + 1):
            for start in range(max(0, end - self._longest), end):
                if reachable[start] and joined[start:end] in self._fillers:
                    reachable[end] = True
                    break
        return reachable


def has_words(text: str) -> bool:
    return _TOKEN.search(text) is not None


@dataclass
class Interruption:
    """One stretch of caller speech that began while the agent was talking."""

    started_at: float
    held: bool
    """The agent's playout is paused waiting for the outcome (fillers configured); else the
    agent was stopped at once."""
    outcome: Outcome | None = None

    @property
    def decided(self) -> bool:
        return self.outcome is not None

    def classify(self, text: str, *, is_final: bool, fillers: FillerWords) -> Outcome | None:
        """The outcome a transcript decides, if it decides one: any real word is a barge-in
        (partials included: the sooner the better); the final transcript decides the rest."""
        if self.decided:
            return None
        maybe_fillers = fillers.only_fillers(text) if is_final else fillers.could_be_fillers(text)
        if has_words(text) and not maybe_fillers:
            return "barge_in"
        if not is_final:
            return None
        return "filler" if has_words(text) else "false"
