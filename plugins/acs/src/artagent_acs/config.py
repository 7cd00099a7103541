"""The ``[plugins.acs]`` table: the ACS resource, this server's public address, security, and
what a call does (audio format, recording, transfer target)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = ["DEFAULT_OPENID_CONFIG", "AcsConfig"]

DEFAULT_OPENID_CONFIG = (
    "https://acscallautomation.communication.azure.com/calling/.well-known/acsopenidconfiguration"
)
Seconds = Annotated[float, msgspec.Meta(gt=0)]


class AcsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    endpoint: str = ""
    """The ACS resource, ``https://<name>.communication.azure.com``. Empty: no call control
    (answer, initiate, transfer and hang-up answer 503); simulated calls still work."""
    connection_string_env: str = ""
    """Environment variable holding the resource's connection string
    (``endpoint=https://...;accesskey=...``): its access key signs the requests, and its endpoint
    serves when ``endpoint`` is empty."""
    key_env: str = ""
    """Or: environment variable holding the resource's access key alone. With neither,
    Microsoft Entra ID (DefaultAzureCredential: managed identity, workload identity, ``az login``)."""
    tls_ca_file: str = ""
    """A CA bundle (PEM) to trust for the ACS endpoint, e.g. behind a TLS-inspecting proxy;
    empty: the system's certificate authorities."""
    public_url: str = ""
    """This server's base URL as ACS reaches it (``https://abc-8080.devtunnels.ms``): callback
    and media URLs are built on it. Empty: the base URL of the request being served."""
    sample_rate: Literal[16000, 24000] = 16000
    """PCM mono rate of the media stream (``pcm16KMono`` or ``pcm24KMono``)."""
    audio_channel: Literal["mixed", "unmixed"] = "mixed"
    """``unmixed``: one stream per participant; only the caller's reaches the agent."""
    caller_id: str = ""
    """The resource's E.164 number outbound calls come from (``POST /api/v1/calls/initiate``)."""
    transfer_target: str = ""
    """Where an escalated call goes: an E.164 number (``+18005550100``) or an ACS user
    (``8:acs:...``). Empty: the agent apologises that it cannot transfer."""
    transfer_timeout_s: Seconds = 30.0
    """How long to wait for ACS to accept or refuse a transfer before giving up."""
    record: bool = False
    """Start recording each call once it is connected (``recording_started``)."""
    recording_format: Literal["wav", "mp3"] = "wav"
    recording_channel: Literal["mixed", "unmixed"] = "mixed"
    send_ms: Literal[20, 40, 60] = 40
    """Agent audio per outbound ``AudioData`` message, in ms (ACS plays whatever length it is
    sent). 40 halves the messages 20 would send, and the server's CPU per message; the far
    side's buffer stays within ``[session] lead_ms`` plus this."""
    media_timeout_s: Seconds = 10.0
    """A media stream that sends no audio for this long ends the call (ACS sends audio every
    20 ms, silence included; DTMF and unreadable messages do not keep a stream alive)."""
    token_ttl_s: Seconds = 7200.0
    """Lifetime of the per-call signed token in the callback and media URLs; longer than a call."""
    signing_key_env: str = ""
    """Environment variable holding the key that signs URL tokens; empty: a random key per
    process. With several workers set one, the same on all: a call's media socket, callbacks
    and hang-up may each reach a different worker."""
    jwt_audience: str = ""
    """The ACS resource's immutable id: when set, callbacks and the media WebSocket must carry
    ACS's JWT (``Authorization: Bearer``) for this audience, besides the URL token."""
    jwt_openid_config_url: str = DEFAULT_OPENID_CONFIG
    """Where ACS publishes its OpenID configuration (its ``jwks_uri`` gives the signing keys)."""
    jwt_issuer: str = ""
    """Expected ``iss``; empty: the ``issuer`` of the OpenID configuration."""
    eventgrid_secret_env: str = ""
    """Environment variable holding a shared secret Event Grid deliveries must carry (in the
    query parameter or the header below); empty: only the validation handshake."""
    eventgrid_secret_param: str = "secret"
    eventgrid_secret_header: str = "X-ArtAgent-Secret"
    control_access: Literal["loopback", "token", "off"] = "loopback"
    """Who may place calls, hang them up and start simulated ones (``POST
    /api/v1/calls/initiate``, ``/api/v1/calls/{call_id}/hangup``, ``/api/v1/acs/simulate``,
    used by ``artagent call``): ``loopback``: clients on this machine, or any client with the
    token below (a proxy or tunnel on this machine makes every client look local: use
    ``token`` behind one); ``token``: only holders of the token; ``off``: nobody."""
    control_token_env: str = ""
    """Environment variable holding the bearer token of those endpoints."""
    dtmf_pause_s: Seconds = 1.5
    """Keys pressed are handed to the agent as one entry after ``#`` or this long without a key."""
