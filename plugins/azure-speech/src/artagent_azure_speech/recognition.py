"""The Speech SDK side of one call's recognition: a push stream and a continuous recogniser.

Everything here runs on SDK threads or in an executor, never on the event loop. Each SDK
event is copied at once into a plain value (:class:`Heard` or :class:`Failed`) and handed to
the loop through a :class:`~artagent_azure_speech.bridge.LoopBridge`; SDK objects never leave
their callback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import azure.cognitiveservices.speech as speechsdk
import msgspec
from artagent.providers import Transcript

from artagent_azure_speech.bridge import Sink

__all__ = ["Failed", "Heard", "Recognition", "RecognitionItem", "SdkRecognition"]

log = logging.getLogger(__name__)
TICKS_PER_MS = 10_000
"""The SDK's offsets and durations are in 100 ns ticks."""


@dataclass(frozen=True)
class Heard:
    """A recognising (partial) or recognised (final) result, copied out of the SDK event."""

    text: str
    is_final: bool
    offset_ticks: int
    duration_ticks: int
    language: str | None = None
    confidence: float | None = None

    def transcript(self) -> Transcript:
        start = self.offset_ticks / TICKS_PER_MS
        return Transcript(
            text=self.text,
            is_final=self.is_final,
            start_ms=start,
            end_ms=start + self.duration_ticks / TICKS_PER_MS,
            confidence=self.confidence,
            language=self.language,
        )


@dataclass(frozen=True)
class Failed:
    """Recognition was cancelled by an error (bad key, network, quota) or stopped on its own."""

    code: str
    details: str


RecognitionItem = Heard | Failed


class Recognition(Protocol):
    """What the stream needs from its recogniser; the blocking calls run in an executor."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def write(self, pcm: bytes) -> None: ...

    def set_token(self, token: str) -> None: ...


class _Best(msgspec.Struct):
    Confidence: float | None = None


class _Detailed(msgspec.Struct):
    NBest: list[_Best] = msgspec.field(default_factory=list)


def _confidence(result_json: str) -> float | None:
    try:
        best = msgspec.json.decode(result_json, type=_Detailed).NBest
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return best[0].Confidence if best else None


def _guarded(handler: Callable[[Any], None]) -> Callable[[Any], None]:
    """An exception escaping into the SDK's native thread would only be printed: log it."""

    def run(evt: Any) -> None:
        try:
            handler(evt)
        except Exception:
            log.exception("Azure Speech event handler failed")

    return run


class SdkRecognition:
    """Continuous recognition of a PushAudioInputStream, reported into ``bridge``."""

    def __init__(
        self,
        speech_config: speechsdk.SpeechConfig,
        auto_detect: speechsdk.languageconfig.AutoDetectSourceLanguageConfig | None,
        *,
        sample_rate: int,
        phrases: list[str],
        bridge: Sink[RecognitionItem],
        language: str | None,
    ) -> None:
        fmt = speechsdk.audio.AudioStreamFormat(
            samples_per_second=sample_rate, bits_per_sample=16, channels=1
        )
        self._stream = speechsdk.audio.PushAudioInputStream(stream_format=fmt)
        self._recognizer = speechsdk.SpeechRecognizer(
            speech_config,
            audio_config=speechsdk.audio.AudioConfig(stream=self._stream),
            auto_detect_source_language_config=auto_detect,
        )
        if phrases:
            grammar = speechsdk.PhraseListGrammar.from_recognizer(self._recognizer)
            for phrase in phrases:
                grammar.addPhrase(phrase)
        self._bridge, self._language, self._stopping = bridge, language, False
        rec = self._recognizer
        rec.recognizing.connect(_guarded(lambda evt: self._on_result(evt, final=False)))
        rec.recognized.connect(_guarded(lambda evt: self._on_result(evt, final=True)))
        rec.canceled.connect(_guarded(self._on_canceled))
        rec.session_stopped.connect(_guarded(self._on_session_stopped))

    def start(self) -> None:
        self._recognizer.start_continuous_recognition_async().get()

    def stop(self) -> None:
        """End the audio, let the service finish, stop; blocks until the SDK has stopped."""
        self._stopping = True
        self._stream.close()
        try:
            self._recognizer.stop_continuous_recognition_async().get()
        finally:
            for signal in (self._recognizer.recognizing, self._recognizer.recognized):
                signal.disconnect_all()
            self._recognizer.canceled.disconnect_all()
            self._recognizer.session_stopped.disconnect_all()

    def write(self, pcm: bytes) -> None:
        self._stream.write(pcm)

    def set_token(self, token: str) -> None:
        self._recognizer.authorization_token = token

    # -- SDK threads ---------------------------------------------------------------------
    def _on_result(self, evt: Any, *, final: bool) -> None:
        result = evt.result
        if final and result.reason not in (
            speechsdk.ResultReason.RecognizedSpeech,
            speechsdk.ResultReason.NoMatch,
        ):
            return
        detected = result.properties.get(
            speechsdk.PropertyId.SpeechServiceConnection_AutoDetectSourceLanguageResult
        )
        self._bridge.put(
            Heard(
                text=result.text if result.reason != speechsdk.ResultReason.NoMatch else "",
                is_final=final,
                offset_ticks=int(result.offset),
                duration_ticks=int(result.duration),
                language=detected if detected and detected != "Unknown" else self._language,
                confidence=_confidence(result.json) if final else None,
            )
        )

    def _on_canceled(self, evt: Any) -> None:
        details = evt.cancellation_details
        if details.reason == speechsdk.CancellationReason.Error:
            self._bridge.put(Failed(code=details.code.name, details=details.error_details or "no details"))

    def _on_session_stopped(self, evt: Any) -> None:
        if not self._stopping:
            self._bridge.put(
                Failed(code="SessionStopped", details="the recognition session ended before the call")
            )
