"""Building the providers from ``[plugins.local_speech]``: pools, engines and voices.

One :class:`LocalSpeech` per runtime (the hook builds it); each pool is created the first time
a provider of its kind is built, so a worker that selects only this plugin's TTS starts no STT
threads. Factories only check the settings (paths exist): the models load in ``warm_up()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from artagent.providers import ProviderSpec
from prometheus_client import CollectorRegistry

from artagent_local_speech.config import LocalSpeechConfig
from artagent_local_speech.models import whisper_source
from artagent_local_speech.pool import InferencePool, PoolMetrics
from artagent_local_speech.stt import WhisperSTT
from artagent_local_speech.tts import PiperTTS
from artagent_local_speech.vad import SileroVAD, WebRTCVAD
from artagent_local_speech.whisper import WhisperEngine

__all__ = ["LocalSpeech"]


class LocalSpeech:
    """The plugin's providers for one runtime, sharing one pool per model kind."""

    def __init__(self, config: LocalSpeechConfig, metrics: CollectorRegistry | None) -> None:
        self.config = config
        self._metrics = PoolMetrics(metrics) if metrics is not None else None
        self._pools: dict[str, InferencePool] = {}

    def specs(self) -> list[ProviderSpec]:
        return [
            ProviderSpec("vad", "silero", self.silero, "Silero VAD (onnxruntime)", default=True),
            ProviderSpec("vad", "webrtc", self.webrtc, "WebRTC VAD (cheapest, coarser)"),
            ProviderSpec("stt", "whisper", self.whisper, "faster-whisper, tiny.en bundled", default=True),
            ProviderSpec("tts", "piper", self.piper, "Piper, en_US-joe-medium bundled", default=True),
        ]

    def pool(self, kind: str, workers: int) -> InferencePool:
        if kind not in self._pools:
            self._pools[kind] = InferencePool(kind, workers, self._metrics)
        return self._pools[kind]

    def silero(self, settings: Mapping[str, Any]) -> SileroVAD:
        vad = self.config.vad
        return SileroVAD(
            self.pool("vad", vad.workers), gate_dbfs=vad.silero_gate_dbfs, batch_ms=vad.silero_batch_ms
        )

    def webrtc(self, settings: Mapping[str, Any]) -> WebRTCVAD:
        return WebRTCVAD(self.config.vad.webrtc_mode)

    def whisper(self, settings: Mapping[str, Any]) -> WhisperSTT:
        s = self.config.stt
        engine = WhisperEngine(s, whisper_source(s.model, "plugins.local_speech.stt.model"))
        return WhisperSTT(s, self.pool("stt", s.workers), engine)

    def piper(self, settings: Mapping[str, Any]) -> PiperTTS:
        return PiperTTS(self.config.tts, self.pool("tts", self.config.tts.workers))
