"""Azure Speech as the session's STTProvider: one continuous recogniser per call.

Audio goes to the SDK's push stream as it arrives (a copy into the SDK's buffer, no waiting);
partial and final results come back through a :class:`LoopBridge`; the blocking start and stop
calls run in a bounded executor. The :class:`FinalsLedger` makes sure each end of speech the
engine reports gets one final result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from artagent.providers import Transcript

from artagent_azure_speech.bridge import LoopBridge, Sink
from artagent_azure_speech.config import AzureSpeechConfig
from artagent_azure_speech.credentials import Credentials
from artagent_azure_speech.errors import AzureSpeechError
from artagent_azure_speech.finals import FinalsLedger
from artagent_azure_speech.recognition import Failed, Recognition, RecognitionItem, SdkRecognition
from artagent_azure_speech.sdk_config import recognition_config, recognition_languages

__all__ = ["AzureSTT", "AzureSTTStream", "RecognitionFactory"]

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 10.0
"""How long closing waits for the SDK to stop before giving up on it."""


@dataclass(frozen=True)
class _EndOfSpeech:
    position_ms: float
    at: float


RecognitionFactory = Callable[[int, str | None, list[str], Sink[RecognitionItem]], Recognition]
"""(sample rate, token, languages, bridge) -> a recogniser; run in the executor."""


class AzureSTTStream:
    """One call's recogniser (the engine's STTStream)."""

    def __init__(
        self,
        recognition: Recognition,
        bridge: LoopBridge[RecognitionItem | _EndOfSpeech],
        *,
        sample_rate: int,
        final_timeout_s: float,
        executor: Executor | None,
        credentials: Credentials | None = None,
    ) -> None:
        self._recognition = recognition
        self._bridge = bridge
        self._bytes_per_ms = sample_rate * 2 / 1000
        self._pushed = 0
        self._ledger = FinalsLedger(final_timeout_s)
        self._executor = executor
        self._closing = False
        self._loop = asyncio.get_running_loop()
        self._refresher: asyncio.Task[None] | None = None
        if credentials is not None and credentials.tokens is not None:
            self._refresher = asyncio.create_task(self._refresh_tokens(credentials), name="azure-stt-token")

    @property
    def position_ms(self) -> float:
        """Audio pushed so far: the call's timeline that offsets are measured on."""
        return self._pushed / self._bytes_per_ms

    async def push(self, frame: bytes) -> None:
        if not self._closing:
            self._recognition.write(frame)
            self._pushed += len(frame)

    async def end_of_speech(self) -> None:
        self._bridge.put_local(_EndOfSpeech(self.position_ms, self._loop.time()))

    async def results(self) -> AsyncIterator[Transcript]:
        """Partials and finals in order; raises :class:`AzureSpeechError` if Azure gives up."""
        ledger = self._ledger
        while True:
            for transcript in ledger.expired(self._loop.time()):
                yield transcript
            deadline = ledger.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self._loop.time())
            try:
                item = await self._bridge.get(timeout)
            except TimeoutError:
                continue
            if item is None:
                return
            if isinstance(item, Failed):
                raise AzureSpeechError("recognition", item.code, item.details)
            made = (
                ledger.end_of_speech(item.position_ms, item.at)
                if isinstance(item, _EndOfSpeech)
                else ledger.result(item.transcript())
            )
            for transcript in made:
                yield transcript

    async def close(self) -> None:
        """Stop recognising (in the executor) and end :meth:`results`; safe to call twice."""
        if self._closing:
            return
        self._closing = True
        if self._refresher is not None:
            self._refresher.cancel()
        try:
            stopping = self._loop.run_in_executor(self._executor, self._recognition.stop)
            await asyncio.wait_for(stopping, STOP_TIMEOUT_S)
        except Exception as exc:  # the call is over either way; do not fail its ending
            log.warning("Azure Speech recognition did not stop cleanly: %r", exc)
        finally:
            self._bridge.close()

    async def _refresh_tokens(self, credentials: Credentials) -> None:
        """Give the running recogniser a new Entra ID token before the old one expires."""
        tokens = credentials.tokens
        assert tokens is not None
        while True:
            await asyncio.sleep(tokens.refresh_in())
            try:
                self._recognition.set_token(await tokens.token())
            except Exception as exc:
                log.warning("Entra ID token refresh for Azure Speech failed, retrying: %r", exc)
                await asyncio.sleep(10.0)


class AzureSTT:
    """The STTProvider: builds one :class:`AzureSTTStream` per call."""

    def __init__(
        self,
        config: AzureSpeechConfig,
        credentials: Credentials,
        executor: Executor | None,
        recognition: RecognitionFactory | None = None,
    ) -> None:
        self.config = config
        self._credentials = credentials
        self._executor = executor
        self._factory = recognition or self._sdk_recognition

    async def open(self, *, sample_rate: int, language: str | None = None) -> AzureSTTStream:
        languages = recognition_languages(self.config, language)
        token = await self._credentials.token()
        loop = asyncio.get_running_loop()
        bridge: LoopBridge[RecognitionItem | _EndOfSpeech] = LoopBridge(loop)
        make = self._factory
        recognition = await loop.run_in_executor(self._executor, make, sample_rate, token, languages, bridge)
        try:
            await loop.run_in_executor(self._executor, recognition.start)
        except Exception:
            with contextlib.suppress(Exception):
                await loop.run_in_executor(self._executor, recognition.stop)
            raise
        return AzureSTTStream(
            recognition,
            bridge,
            sample_rate=sample_rate,
            final_timeout_s=self.config.final_timeout_ms / 1000,
            executor=self._executor,
            credentials=self._credentials,
        )

    def _sdk_recognition(
        self, sample_rate: int, token: str | None, languages: list[str], bridge: Sink[RecognitionItem]
    ) -> SdkRecognition:
        speech_config, auto_detect = recognition_config(
            self.config, languages, key=self._credentials.key, token=token
        )
        return SdkRecognition(
            speech_config,
            auto_detect,
            sample_rate=sample_rate,
            phrases=self.config.phrases,
            bridge=bridge,
            language=languages[0] if len(languages) == 1 else None,
        )
