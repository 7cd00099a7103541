"""One utterance in, its words out: faster-whisper (CTranslate2, int8 on the CPU).

Whisper's encoder is built for 30 s windows, and encoding a whole window costs most of a
transcription on a CPU, however short the utterance. A caller's turn is a few seconds, so the
*fitted window* encodes only the utterance plus ``window_pad_s`` of silence (CTranslate2
accepts a shorter input) and then decodes as usual: several times faster. The decoder sees less
context than it was trained with and may, rarely, loop ("yes yes yes ..."), run on, or stop
after the first sentence. So it decodes with timestamps, which say how far into the audio the
words reach, and a result that does not reach the end of the loud audio, repeats a run of
words, uses up its token budget or compresses too well is thrown away: the utterance is then
transcribed again with the full 30 s window, as faster-whisper does it. Everything here
blocks: it runs in the STT pool's threads.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from artagent_local_speech.config import STTConfig
from artagent_local_speech.models import shared

__all__ = ["Recognition", "WhisperEngine"]

RATE = 16_000
MAX_FRAMES = 3000
"""Mel frames in Whisper's 30 s window (10 ms each)."""
_WORDS = re.compile(r"\w+")
_REPEAT_NGRAM = 4
_MAX_COMPRESSION = 2.4
_LOW_LOGPROB = -1.0
_REACH_TOLERANCE_S = 1.0
"""The words' last timestamp may fall this far before the end of the loud audio."""


@dataclass(frozen=True)
class Recognition:
    text: str
    language: str | None
    confidence: float | None
    window: str
    """``fitted`` or ``full``: which window produced the text."""


def looks_wrong(text: str) -> bool:
    """A decoder gone astray: the same run of words twice, the whole text one phrase said over
    again ("good morning, good morning": the fitted window's decoder sometimes loops back to
    the start of a short utterance), or text that compresses too well. A caller who did say
    it twice loses nothing: the full window then transcribes it, only later."""
    words = _WORDS.findall(text.lower())
    for size in range(2, len(words) // 2 + 1):
        if len(words) % size == 0 and words == words[:size] * (len(words) // size):
            return True
    seen: set[tuple[str, ...]] = set()
    for i in range(len(words) - _REPEAT_NGRAM + 1):
        gram = tuple(words[i : i + _REPEAT_NGRAM])
        if gram in seen:
            return True
        seen.add(gram)
    raw = text.encode()
    return len(raw) > 24 and len(raw) / len(zlib.compress(raw)) > _MAX_COMPRESSION


class WhisperEngine:
    """A faster-whisper model (loaded once per process) and its decoding settings."""

    def __init__(self, settings: STTConfig, source: str) -> None:
        self.settings = settings
        self.source = source
        """The bundled model directory, the user's directory, or a model name."""

    @property
    def model(self) -> Any:
        """The ``faster_whisper.WhisperModel``, loaded on first use (blocking)."""
        s = self.settings
        key = ("whisper", self.source, s.compute_type, s.threads, s.workers)
        return shared(key, self._load)

    def _load(self) -> Any:
        from faster_whisper import WhisperModel

        s = self.settings
        return WhisperModel(
            self.source,
            device="cpu",
            compute_type=s.compute_type,
            cpu_threads=s.threads,
            num_workers=s.workers,
        )

    def transcribe(
        self, audio: np.ndarray, language: str | None, speech_end_s: float | None = None
    ) -> Recognition:
        """The words of ``audio`` (float32, 16 kHz, mono); "" for silence or noise.
        ``speech_end_s``: where its loud part ends (default: its end), which the words of a
        fitted window must reach."""
        if audio.size < RATE // 10:
            return Recognition("", language, None, "none")
        s = self.settings
        seconds = audio.size / RATE
        if s.fitted_window and seconds + s.window_pad_s <= MAX_FRAMES / 100:
            fitted = self._fitted(audio, language, seconds if speech_end_s is None else speech_end_s)
            if fitted is not None:
                return fitted
        return self._full(audio, language)

    def warm_up(self) -> None:
        """Load the model and run both windows once, so a first caller does not wait for it."""
        rng = np.random.default_rng(0)
        noise = (rng.standard_normal(RATE) * 0.01).astype(np.float32)
        self._fitted(noise, "en" if not self.model.model.is_multilingual else None, 0.0)
        self._full(noise, "en" if not self.model.model.is_multilingual else None)

    # -- the fitted window ---------------------------------------------------------------------
    def _fitted(self, audio: np.ndarray, language: str | None, speech_end_s: float) -> Recognition | None:
        """Decode with an encoder window fitted to the utterance; None when it looks wrong."""
        s = self.settings
        encoded = self._encode(audio)
        language = self._language(encoded, language)
        prompt = self._prompt(language)
        budget = int(16 + 8 * audio.size / RATE)
        result = self.model.model.generate(
            encoded,
            [prompt],
            beam_size=s.beam_size,
            max_length=len(prompt) + budget,
            repetition_penalty=1.2,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        text, reach = self._words(result.sequences_ids[0], language)
        too_long = len(result.sequences_ids[0]) >= budget
        if too_long or looks_wrong(text) or (text and reach < speech_end_s - _REACH_TOLERANCE_S):
            return None
        logprob = float(result.scores[0])
        if result.no_speech_prob > s.no_speech_threshold and logprob < _LOW_LOGPROB:
            text = ""
        return Recognition(text, language, round(math.exp(logprob), 3), "fitted")

    def _encode(self, audio: np.ndarray) -> Any:
        """The encoder's output for ``audio`` plus ``window_pad_s`` of silence."""
        from faster_whisper.transcribe import get_ctranslate2_storage

        model = self.model
        padded = np.concatenate((audio, np.zeros(int(self.settings.window_pad_s * RATE), dtype=np.float32)))
        features = model.feature_extractor(padded)
        frames = min(features.shape[1] // 2 * 2, MAX_FRAMES)
        return model.model.encode(get_ctranslate2_storage(np.ascontiguousarray(features[None, :, :frames])))

    def _words(self, tokens: list[int], language: str | None) -> tuple[str, float]:
        """The text of the decoded tokens, and how far into the audio (s) its timestamps reach."""
        tokenizer = self._tokenizer(language)
        text = tokenizer.decode([token for token in tokens if token < tokenizer.eot]).strip()
        begin = tokenizer.timestamp_begin
        return text, max(((token - begin) * 0.02 for token in tokens if token >= begin), default=0.0)

    def _language(self, encoded: Any, language: str | None) -> str | None:
        if not self.model.model.is_multilingual:
            return "en"
        if language:
            return language
        detected = self.model.model.detect_language(encoded)[0][0][0]  # ("<|de|>", probability)
        return str(detected)[2:-2]

    def _tokenizer(self, language: str | None) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        model = self.model
        return Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
        )

    def _prompt(self, language: str | None) -> list[int]:
        tokenizer = self._tokenizer(language)
        hint = self.settings.prompt.strip()
        previous = tokenizer.encode(" " + hint) if hint else []
        prompt: list[int] = self.model.get_prompt(tokenizer, previous, without_timestamps=False)
        return prompt

    # -- the full window -----------------------------------------------------------------------
    def _full(self, audio: np.ndarray, language: str | None) -> Recognition:
        s = self.settings
        multilingual = self.model.model.is_multilingual
        segments, info = self.model.transcribe(
            audio,
            language=language if multilingual else "en",
            beam_size=s.beam_size,
            without_timestamps=True,
            condition_on_previous_text=False,
            initial_prompt=s.prompt.strip() or None,
            no_speech_threshold=s.no_speech_threshold,
            vad_filter=False,
        )
        parts = list(segments)
        text = " ".join(part.text.strip() for part in parts if part.text.strip())
        confidence = None
        if parts:
            confidence = round(math.exp(sum(part.avg_logprob for part in parts) / len(parts)), 3)
        return Recognition(text, info.language, confidence, "full")
