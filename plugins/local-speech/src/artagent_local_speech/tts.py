"""The ``piper`` TTS provider: Piper voices (VITS on onnxruntime), streamed piece by piece.

Piper renders a whole piece of text in one inference, about 20 times faster than real time on
one core. So the text is phonemized (espeak-ng, inside Piper) and cut into sentences, and, with
``split_clauses``, each sentence at its commas, semicolons and colons; each piece is rendered
in the TTS pool and yielded as soon as it is ready, so the first audio waits only for the first
clause. The audio is resampled (soxr, in the same pool thread) to ``sample_rate``, the engine's
16 kHz by default, so the event loop does no signal work. Closing the iteration stops the
synthesis after the piece being rendered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from artagent.audio import Resampler
from artagent.providers import AudioChunk, VoiceSpec

from artagent_local_speech.config import TTSConfig
from artagent_local_speech.pool import InferencePool
from artagent_local_speech.voices import VoiceLibrary, length_scale

__all__ = ["PiperTTS", "clause_pieces"]

CLAUSE_MARKS = frozenset(",;:")
MIN_PIECE_PHONEMES = 10
"""A clause shorter than this stays with the next one (a lone "Okay," sounds clipped)."""
HEADROOM = 0.9
"""Peak level of each piece, as a fraction of full scale."""


def clause_pieces(phonemes: list[str]) -> list[list[str]]:
    """One sentence's phonemes cut after its clause marks, no piece shorter than the minimum."""
    pieces: list[list[str]] = []
    current: list[str] = []
    for phoneme in phonemes:
        current.append(phoneme)
        if phoneme in CLAUSE_MARKS and _sounds(current) >= MIN_PIECE_PHONEMES:
            pieces.append(current)
            current = []
    if current and pieces and _sounds(current) < MIN_PIECE_PHONEMES:
        pieces[-1].extend(current)
    elif current:
        pieces.append(current)
    return pieces


def _sounds(phonemes: list[str]) -> int:
    return sum(1 for p in phonemes if p.strip() and p not in CLAUSE_MARKS and p not in ".!?")


class PiperTTS:
    """Voices load once per process; every call's syntheses share the TTS pool."""

    def __init__(self, settings: TTSConfig, pool: InferencePool) -> None:
        self.settings = settings
        self.pool = pool
        self.voices = VoiceLibrary(settings)

    async def warm_up(self) -> None:
        async for _ in self.synthesize("Hello."):
            pass

    def synthesize(self, text: str, *, voice: VoiceSpec | None = None) -> AsyncIterator[AudioChunk]:
        return self._stream(text, voice)

    async def _stream(self, text: str, voice: VoiceSpec | None) -> AsyncIterator[AudioChunk]:
        path = self.voices.path_for(voice)
        piper = self.voices.loaded(path) or await self.pool.run(self.voices.load, path)
        native = int(piper.config.sample_rate)
        rate = self.settings.sample_rate or native
        resampler = Resampler(native, rate)
        scale = length_scale(piper, voice)
        # One pool job phonemizes and renders the first piece: a single wait before first audio.
        pieces, pcm = await self.pool.run(self._first_piece, piper, text, scale, resampler)
        for index in range(len(pieces)):
            if index:
                pcm = await self.pool.run(
                    _render, piper, pieces[index], scale, resampler, index == len(pieces) - 1
                )
            if pcm:
                yield AudioChunk(pcm, rate)

    def _first_piece(
        self, piper: Any, text: str, scale: float, resampler: Resampler
    ) -> tuple[list[list[int]], bytes]:
        pieces = self._phoneme_ids(piper, text)
        pcm = _render(piper, pieces[0], scale, resampler, len(pieces) == 1) if pieces else b""
        return pieces, pcm

    def _phoneme_ids(self, piper: Any, text: str) -> list[list[int]]:
        ids: list[list[int]] = []
        for sentence in piper.phonemize(text):
            if not sentence:
                continue
            pieces = clause_pieces(sentence) if self.settings.split_clauses else [sentence]
            ids.extend(piper.phonemes_to_ids(piece) for piece in pieces)
        return ids


def _render(piper: Any, ids: list[int], scale: float, resampler: Resampler, last: bool) -> bytes:
    """One piece's audio as PCM16 at the output rate (in a pool thread)."""
    from piper.config import SynthesisConfig

    audio = np.asarray(piper.phoneme_ids_to_audio(ids, SynthesisConfig(length_scale=scale)), dtype=np.float32)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 1e-8:  # as Piper does for each sentence, every piece equally loud; with headroom
        audio = audio * (HEADROOM / peak)  # so the resampler's overshoot does not clip
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    out = resampler.process(pcm)
    return out + resampler.flush() if last else out
