"""Azure Speech as the session's TTSProvider: streamed synthesis from a pool of synthesizers.

A SpeechSynthesizer speaks one document at a time and keeps its connection open between them,
so the provider (shared by every call on the worker) keeps up to ``synthesizers`` of them and
lends one to each synthesis. Audio arrives in the SDK's ``synthesizing`` events, on SDK
threads, and is handed to the iterating task through a :class:`LoopBridge` as it comes.
Closing or cancelling the iteration stops the synthesizer before it is lent again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

import azure.cognitiveservices.speech as speechsdk
from artagent.providers import AudioChunk, VoiceSpec

from artagent_azure_speech.bridge import LoopBridge, Sink
from artagent_azure_speech.config import AzureSpeechConfig
from artagent_azure_speech.credentials import Credentials
from artagent_azure_speech.errors import AzureSpeechError
from artagent_azure_speech.recognition import Failed
from artagent_azure_speech.sdk_config import synthesis_config
from artagent_azure_speech.ssml import build_ssml

__all__ = ["AzureTTS", "SdkSynthesizer", "Synthesizer", "SynthesizerFactory"]

log = logging.getLogger(__name__)
SynthesisItem = bytes | Failed


class Synthesizer(Protocol):
    """One synthesizer; :meth:`begin` and :meth:`stop` run in the executor."""

    def begin(self, ssml: str, bridge: Sink[SynthesisItem]) -> None:
        """Start speaking ``ssml``: audio into ``bridge``, closed when done (or after a Failed)."""
        ...

    def stop(self) -> None: ...

    def set_token(self, token: str) -> None: ...


SynthesizerFactory = Callable[[str | None], Synthesizer]
"""(authorization token) -> a synthesizer; run in the executor."""


@dataclass(frozen=True)
class _Job:
    bridge: Sink[SynthesisItem]


class SdkSynthesizer:
    """A SpeechSynthesizer with no audio device: its audio is read from its events."""

    def __init__(self, speech_config: speechsdk.SpeechConfig) -> None:
        self._synth = speechsdk.SpeechSynthesizer(speech_config, audio_config=None)
        self._job: _Job | None = None
        self._synth.synthesizing.connect(self._guard(self._on_audio))
        self._synth.synthesis_completed.connect(self._guard(self._on_completed))
        self._synth.synthesis_canceled.connect(self._guard(self._on_canceled))

    def begin(self, ssml: str, bridge: Sink[SynthesisItem]) -> None:
        self._job = _Job(bridge)
        self._synth.start_speaking_ssml_async(ssml)  # the events report progress; no need to wait

    def stop(self) -> None:
        self._job = None
        self._synth.stop_speaking_async().get()

    def set_token(self, token: str) -> None:
        self._synth.authorization_token = token

    # -- SDK threads ---------------------------------------------------------------------
    @staticmethod
    def _guard(handler: Callable[[Any], None]) -> Callable[[Any], None]:
        def run(evt: Any) -> None:
            try:
                handler(evt)
            except Exception:
                log.exception("Azure Speech synthesis event handler failed")

        return run

    def _current(self, evt: Any) -> _Job | None:
        """The job being spoken; ``None`` once it was stopped, so a stopped synthesis's
        stragglers are dropped. (Result ids cannot tell jobs apart: the SDK reports a
        synthesis that could not connect under an id other than the one it started with.)"""
        return self._job

    def _on_audio(self, evt: Any) -> None:
        job = self._current(evt)
        if job is not None and evt.result.audio_data:
            job.bridge.put(bytes(evt.result.audio_data))

    def _on_completed(self, evt: Any) -> None:
        job = self._current(evt)
        if job is not None:
            job.bridge.close()

    def _on_canceled(self, evt: Any) -> None:
        job = self._current(evt)
        if job is None:
            return
        details = evt.result.cancellation_details
        if details.reason == speechsdk.CancellationReason.Error:
            job.bridge.put(
                Failed(code=details.error_code.name, details=details.error_details or "no details")
            )
        job.bridge.close()


class AzureTTS:
    """The TTSProvider; one per worker, shared by its calls."""

    def __init__(
        self,
        config: AzureSpeechConfig,
        credentials: Credentials,
        executor: Executor | None,
        synthesizer: SynthesizerFactory | None = None,
    ) -> None:
        self.config = config
        self.sample_rate = config.output_rate
        self._credentials = credentials
        self._executor = executor
        self._factory = synthesizer or self._sdk_synthesizer
        self._idle: list[Synthesizer] = []
        self._slots: asyncio.Semaphore | None = None

    async def synthesize(self, text: str, *, voice: VoiceSpec | None = None) -> AsyncIterator[AudioChunk]:
        """Audio of ``text`` as Azure produces it; closing the iteration stops the synthesis."""
        ssml = build_ssml(text, voice, default_voice=self.config.voice)
        self._slots = self._slots or asyncio.Semaphore(self.config.synthesizers)
        async with self._slots:
            loop = asyncio.get_running_loop()
            synth = await self._checkout(loop)
            bridge: LoopBridge[SynthesisItem] = LoopBridge(loop)
            finished = False
            try:
                await loop.run_in_executor(self._executor, synth.begin, ssml, bridge)
                while (item := await bridge.get()) is not None:
                    if isinstance(item, Failed):
                        raise AzureSpeechError("synthesis", item.code, item.details)
                    yield AudioChunk(item, self.sample_rate)
                finished = True
            finally:
                await self._checkin(loop, synth, stop=not finished)

    async def _checkout(self, loop: asyncio.AbstractEventLoop) -> Synthesizer:
        token = await self._credentials.token()
        if self._idle:
            synth = self._idle.pop()
            if token is not None:
                synth.set_token(token)  # renewed tokens reach synthesizers made earlier
            return synth
        return await loop.run_in_executor(self._executor, self._factory, token)

    async def _checkin(self, loop: asyncio.AbstractEventLoop, synth: Synthesizer, *, stop: bool) -> None:
        if stop:
            try:
                await asyncio.shield(loop.run_in_executor(self._executor, synth.stop))
            except BaseException as exc:  # a synthesizer that did not stop is not lent again
                log.warning("Azure Speech synthesis did not stop cleanly: %r", exc)
                if not isinstance(exc, Exception):
                    raise
                return
        self._idle.append(synth)

    def _sdk_synthesizer(self, token: str | None) -> SdkSynthesizer:
        return SdkSynthesizer(synthesis_config(self.config, key=self._credentials.key, token=token))
