"""Call control through the async Call Automation client: answer, call out, transfer, record,
hang up.

A client per operation (they are a few per call, and no connection then outlives the server):
with the resource's access key (requests signed with HMAC-SHA256) or with a Microsoft Entra ID
token (DefaultAzureCredential, built once and kept for its token cache). Nothing Azure is
imported until a call needs it, so a server without ``[plugins.acs] endpoint`` never does.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from artagent_acs.config import AcsConfig

if TYPE_CHECKING:
    from azure.communication.callautomation import CommunicationIdentifier
    from azure.communication.callautomation.aio import CallAutomationClient

__all__ = ["CallControl", "CallControlUnavailable", "identifier"]

log = logging.getLogger(__name__)


class CallControlUnavailable(RuntimeError):
    """``[plugins.acs] endpoint`` is not configured: this server cannot drive real calls."""


def identifier(target: str) -> CommunicationIdentifier:
    """An E.164 number (``+1...``) or an ACS raw id (``8:acs:...``, ``4:+1...``) as an SDK identifier."""
    from azure.communication.callautomation import PhoneNumberIdentifier
    from azure.communication.callautomation._shared.models import identifier_from_raw_id

    if target.startswith("+"):
        return PhoneNumberIdentifier(target)
    return identifier_from_raw_id(target)


class CallControl:
    def __init__(self, config: AcsConfig, key: str | None, connection_string: str | None = None) -> None:
        self.config, self._key, self._connection_string = config, key, connection_string
        self.endpoint = config.endpoint
        self._credential: Any = None

    @property
    def enabled(self) -> bool:
        return bool(self.endpoint or self._connection_string)

    def _read_connection_string(self) -> None:
        """The connection string's key (and endpoint), read when call control is first used."""
        from azure.communication.callautomation._shared.utils import parse_connection_str

        try:
            endpoint, self._key = parse_connection_str(self._connection_string)
        except ValueError:
            raise CallControlUnavailable(
                "plugins.acs.connection_string_env: the variable does not hold a connection string "
                "(endpoint=https://...;accesskey=...)"
            ) from None
        self.endpoint, self._connection_string = self.endpoint or endpoint, None

    def client(self) -> CallAutomationClient:
        """A new client: use it as ``async with`` (it closes its connections on exit)."""
        if self._connection_string:
            self._read_connection_string()
        if not self.endpoint:
            raise CallControlUnavailable("no ACS resource is configured (plugins.acs.endpoint)")
        from azure.communication.callautomation.aio import CallAutomationClient

        if self._credential is None:
            if self._key:
                from azure.core.credentials import AzureKeyCredential

                self._credential = AzureKeyCredential(self._key)
            else:
                from azure.identity.aio import DefaultAzureCredential

                self._credential = DefaultAzureCredential()
        tls: dict[str, Any] = (
            {"connection_verify": self.config.tls_ca_file} if self.config.tls_ca_file else {}
        )
        return CallAutomationClient(self.endpoint, self._credential, **tls)

    def _streaming(self, media_url: str) -> Any:
        from azure.communication.callautomation import MediaStreamingOptions

        c = self.config
        return MediaStreamingOptions(
            transport_url=media_url,
            transport_type="websocket",
            content_type="audio",
            audio_channel_type=c.audio_channel,
            start_media_streaming=True,
            enable_bidirectional=True,
            audio_format="pcm24KMono" if c.sample_rate == 24000 else "pcm16KMono",
            enable_dtmf_tones=True,
        )

    async def answer(
        self, incoming_call_context: str, callback_url: str, media_url: str, call_id: str
    ) -> Any:
        async with self.client() as client:
            return await client.answer_call(
                incoming_call_context,
                callback_url,
                operation_context=call_id,
                media_streaming=self._streaming(media_url),
            )

    async def create(self, target: str, callback_url: str, media_url: str, call_id: str) -> Any:
        from azure.communication.callautomation import PhoneNumberIdentifier

        source = PhoneNumberIdentifier(self.config.caller_id) if self.config.caller_id else None
        async with self.client() as client:
            return await client.create_call(
                identifier(target),
                callback_url,
                source_caller_id_number=source,
                operation_context=call_id,
                media_streaming=self._streaming(media_url),
            )

    async def hang_up(self, connection_id: str) -> None:
        async with self.client() as client:
            await client.get_call_connection(connection_id).hang_up(is_for_everyone=True)

    async def transfer(self, connection_id: str, target: str, call_id: str) -> None:
        async with self.client() as client:
            connection = client.get_call_connection(connection_id)
            await connection.transfer_call_to_participant(identifier(target), operation_context=call_id)

    async def start_recording(self, connection_id: str) -> str:
        c = self.config
        async with self.client() as client:
            result = await client.start_recording(
                call_connection_id=connection_id,
                recording_content_type="audio",
                recording_channel_type=c.recording_channel,
                recording_format_type=c.recording_format,
            )
        return str(result.recording_id or "")

    async def close(self) -> None:
        if self._credential is not None and hasattr(self._credential, "close"):
            await self._credential.close()
            self._credential = None
