"""The ``[plugins.cosmos]`` table: which account, database and container, and how to sign in."""

from __future__ import annotations

from typing import Annotated

import msgspec


class CosmosConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    endpoint: str = ""
    """The account's URI, e.g. ``https://contoso-voice.documents.azure.com:443/``; required when
    ``[history] store = "cosmos"``."""
    database: str = "artagent"
    """Database holding the container; created (serverless or shared throughput) when missing."""
    container: str = "calls"
    """Container of call documents, partitioned by ``/call_id``; created when missing."""
    key_env: str | None = None
    """Name of the environment variable holding the account key; unset: Entra ID through
    azure-identity's DefaultAzureCredential (managed identity, workload identity, az login...)."""
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    """Connection and read timeout of each request, in seconds."""
    max_concurrency: Annotated[int, msgspec.Meta(ge=1, le=256)] = 16
    """Calls written at once when a batch of events touches several calls."""
