"""The plugin's providers built from its table: credentials, one executor, STT and TTS.

Built once per runtime by the ``register_providers`` hook. Nothing here does I/O: the Entra ID
credential is created (DefaultAzureCredential does no network call until a token is asked
for) and the first token is fetched when the first call opens a recogniser or synthesizer.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from artagent.providers import ProviderSpec
from azure.core.credentials import TokenCredential

from artagent_azure_speech.config import AzureSpeechConfig
from artagent_azure_speech.credentials import Credentials, EntraTokens
from artagent_azure_speech.stt import AzureSTT
from artagent_azure_speech.tts import AzureTTS

__all__ = ["AzureSpeech", "default_credential"]


def default_credential() -> TokenCredential:
    """azure-identity's chain: environment, workload identity, managed identity, az login, ..."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


class AzureSpeech:
    """What the plugin offers for one runtime: stt ``azure`` and tts ``azure``."""

    NAME = "azure"

    def __init__(
        self,
        config: AzureSpeechConfig,
        *,
        key: str | None,
        credential: Callable[[], TokenCredential] = default_credential,
    ) -> None:
        self.config = config
        self.executor = ThreadPoolExecutor(config.executor_threads, thread_name_prefix="azure-speech")
        self.credentials = self._credentials(key, credential)
        self._tts: AzureTTS | None = None

    def _credentials(self, key: str | None, credential: Callable[[], TokenCredential]) -> Credentials:
        cfg = self.config
        if key is not None or not cfg.uses_entra_id:
            return Credentials(key=key)
        tokens = EntraTokens(
            credential(), resource_id=cfg.resource_id, refresh_s=cfg.token_refresh_s, executor=self.executor
        )
        return Credentials(tokens=tokens)

    def stt(self, settings: Any = None) -> AzureSTT:
        return AzureSTT(self.config, self.credentials, self.executor)

    def tts(self, settings: Any = None) -> AzureTTS:
        """One TTS provider (and synthesizer pool) however many times it is asked for."""
        if self._tts is None:
            self._tts = AzureTTS(self.config, self.credentials, self.executor)
        return self._tts

    def specs(self) -> list[ProviderSpec]:
        where = self.config.region or self.config.endpoint or self.config.host
        return [
            ProviderSpec("stt", self.NAME, self.stt, description=f"Azure Speech recognition ({where})"),
            ProviderSpec("tts", self.NAME, self.tts, description=f"Azure Speech synthesis ({where})"),
        ]
