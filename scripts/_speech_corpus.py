"""Speech test material shared by the local speech tests and ``bench_local_speech``.

- ``CLAIMS``: 30 sentences a caller says on a car insurance claims call (names, ZIP codes and
  policy numbers read digit by digit, dates, times, street addresses, car makes and models).
- :func:`normalize` and :func:`word_error_rate`: transcripts are compared after lower-casing,
  dropping punctuation and writing every number as its digits one by one ("fourteen twenty",
  "1,420" and "1 4 2 0" all become ``1 4 2 0``), so a recogniser is not penalised for writing
  numbers its own way.
- :class:`EspeakVoice`: a second, robotic voice (espeak-ng's formant synthesiser, from the
  ``espeakng-loader`` package, no system install), to check recognition on a voice unlike
  Piper's.
"""

from __future__ import annotations

import ctypes
import re
import threading
from pathlib import Path

import jiwer
import numpy as np
import soxr
from text_to_num import alpha2digit

__all__ = ["CLAIMS", "EspeakVoice", "normalize", "word_error_rate"]

CLAIMS = (
    "Hi, my name is Sarah Johnson and I would like to report an accident.",
    "My policy number is 4 7 2 9 1 8 3 6.",
    "It happened on March 3rd at about 5:30 in the afternoon.",
    "The address is 1420 Maple Street in Springfield, Illinois.",
    "The ZIP code there is 6 2 7 0 4.",
    "I was driving my 2019 Toyota Camry.",
    "The other driver had a blue Ford pickup truck.",
    "Nobody was hurt, but the rear bumper is badly damaged.",
    "You can reach me at 5 5 5, 8 6 7, 5 3 0 9.",
    "It was on the corner of Oak Avenue and Fifth Street.",
    "My husband, David Martinez, was in the passenger seat.",
    "We were stopped at a red light when a Honda Civic hit us from behind.",
    "The police report number is 7 3 1 5 9.",
    "I live at 88 Elm Court in Columbus, Ohio.",
    "My date of birth is July 14th, 1985.",
    "The car is a silver 2021 Subaru Outback.",
    "I rented a Chevrolet Malibu at the airport.",
    "The tow truck took it to a body shop on Washington Boulevard.",
    "Can I get a rental car while mine is being repaired?",
    "It happened on Friday, November 22nd, at around 9 in the morning.",
    "The repair estimate was about 3500 dollars.",
    "Is my deductible still 500 dollars?",
    "The other driver was Michael Chen and his insurer is Geico.",
    "His policy number is 9 9 0 1 2 7 4.",
    "I am calling from 2250 Lincoln Road in Miami, Florida.",
    "The ZIP code is 3 3 1 3 9.",
    "Yes, that is correct.",
    "No, I have not seen a doctor yet.",
    "Please send the adjuster on Tuesday between 10 and 2.",
    "A deer hit my Jeep Grand Cherokee on Highway 9 near Boulder, Colorado.",
)

_MONEY = re.compile(r"\$(\d[\d,]*)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_JOINED = re.compile(r"(?<=[a-z0-9])[-/](?=[a-z0-9])")
_TIME = re.compile(r"(?<=\d)[:.](?=\d)")
_PUNCTUATION = re.compile(r"[^\w\s']")
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b")
_DIGITS = re.compile(r"\d+")


def normalize(text: str) -> str:
    """Lower case, no punctuation, numbers as single digits ("5:30" and "five thirty": 5 3 0)."""
    t = _MONEY.sub(r"\1 dollars", text.lower()).replace("%", " percent")
    t = _THOUSANDS.sub("", t)
    t = _JOINED.sub(" ", t)
    t = _TIME.sub(" ", t)
    t = _PUNCTUATION.sub(" ", t)
    t = alpha2digit(t, "en")
    t = _ORDINAL.sub(r"\1", t)
    t = _DIGITS.sub(lambda m: " ".join(m.group(0)), t)
    return " ".join(t.replace("'", "").split())


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus word error rate (all errors over all reference words), after :func:`normalize`."""
    return float(jiwer.wer([normalize(r) for r in references], [normalize(h) for h in hypotheses]))


class EspeakVoice:
    """espeak-ng through its C API (``espeakng-loader`` ships the library and its data).

    The library keeps global state, so one instance per process is enough and calls are
    serialised with a lock.
    """

    _lock = threading.Lock()
    _CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
    _SYNCHRONOUS, _CHARS_UTF8, _POS_CHARACTER, _RATE = 2, 1, 1, 1

    def __init__(self, voice: str = "en-us", words_per_minute: int = 150) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data_parent = str(Path(espeakng_loader.get_data_path()).parent).encode()
        self.sample_rate = int(self._lib.espeak_Initialize(self._SYNCHRONOUS, 0, data_parent, 0))
        if self.sample_rate <= 0:
            raise RuntimeError("espeak-ng did not initialise")
        self._chunks: list[np.ndarray] = []
        self._callback = self._CALLBACK(self._collect)  # kept: the library calls it later
        self._lib.espeak_SetSynthCallback(self._callback)
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        self._lib.espeak_SetParameter(self._RATE, words_per_minute, 0)

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], count: int, events: int) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def say(self, text: str, rate: int = 16_000) -> bytes:
        """``text`` spoken, as PCM16 mono at ``rate``."""
        data = text.encode()
        with self._lock:
            self._chunks = []
            self._lib.espeak_Synth(
                data, len(data) + 1, 0, self._POS_CHARACTER, 0, self._CHARS_UTF8, None, None
            )
            self._lib.espeak_Synchronize()
            pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        out: np.ndarray = soxr.resample(pcm, self.sample_rate, rate)
        return out.astype("<i2").tobytes()
