"""The artagent-cosmos plugin: discovery, configuration, the container it makes (partition key,
TTL), signing in with a key or with Entra ID, and a runtime whose history lives in Cosmos DB.
The real azure-cosmos SDK talks to the local fake endpoint (tests/_fake_cosmos.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from _bus import wait_until
from _fake_cosmos import KEY, FakeCosmos
from _history_kit import insurance_call, short_call
from artagent.config import ConfigError, LoadedConfig
from artagent.history import CallQuery, fold_events
from artagent.plugins import PluginHost
from artagent.runtime import Runtime
from artagent_cosmos.config import CosmosConfig
from artagent_cosmos.store import CosmosHistoryStore, item_id
from azure.cosmos.exceptions import CosmosHttpResponseError
from fakes.managed_identity import managed_identity_endpoint

MakeConfig = Callable[..., LoadedConfig]
DAY = 86_400


def test_cosmos_is_discovered_through_its_entry_point() -> None:
    host = PluginHost()
    host.load_entry_points()
    info = host.plugins["cosmos"]
    assert (info.distribution, info.module) == ("artagent-cosmos", "artagent_cosmos.hooks")
    assert "cosmos" not in {f.name for f in host.failures}


def only_cosmos() -> PluginHost:
    host = PluginHost(disabled=["analytics"])
    host.load_entry_points()
    return host


def cosmos_runtime(make_config: MakeConfig, table: str, environ: dict[str, str] | None = None) -> Runtime:
    text = f'[history]\nstore = "cosmos"\nretention_days = 7\n[plugins.cosmos]\n{table}\n'
    return Runtime(make_config(text, environ=environ), host=only_cosmos(), load_entry_points=False)


@pytest.mark.parametrize(
    ("table", "issue"),
    [
        ("", 'endpoint: required when [history] store = "cosmos"'),
        ('endpoint = "contoso.documents.azure.com"', "endpoint: must be an https:// URL"),
        ('endpoint = "http://127.0.0.1:8081/"', "endpoint: must be https:// to sign in with Entra ID"),
        ('endpoint = "https://x/"\nkey_env = "CK"', "key_env: environment variable CK is not set"),
        ('endpoint = "https://x/"\nmax_concurrency = 0', "max_concurrency: Expected `int` >= 1"),
    ],
)  # fmt: skip
def test_a_bad_cosmos_table_is_an_error_naming_its_key(
    make_config: MakeConfig, table: str, issue: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        cosmos_runtime(make_config, table, {})
    assert any(str(i).startswith(f"plugins.cosmos.{issue}") for i in caught.value.issues), caught.value.issues


def test_the_table_is_not_required_while_another_store_is_chosen(make_config: MakeConfig) -> None:
    runtime = Runtime(make_config(), host=only_cosmos(), load_entry_points=False)
    assert runtime.history.store is not None and runtime.history.store.name == "sqlite"
    assert runtime.stores.names() == ["cosmos", "sqlite"] and runtime.stores.owner("cosmos") == "cosmos"


async def test_the_container_is_partitioned_by_call_and_expires_calls_after_the_retention() -> None:
    async with FakeCosmos() as fake:
        store = CosmosHistoryStore(CosmosConfig(endpoint=fake.endpoint), key=KEY, retention_s=7 * DAY)
        await store.start()
        props = fake.containers[("artagent", "calls")].props
        assert props["partitionKey"]["paths"] == ["/call_id"] and props["defaultTtl"] == 7 * DAY
        assert {"path": "/sort_key/?"} in props["indexingPolicy"]["includedPaths"]
        await store.apply(insurance_call())
        assert await store.get("call-42") is not None
        fake.clock = lambda: time.time() + 7 * DAY + 60  # a week later, Cosmos DB has expired it
        assert await store.get("call-42") is None
        assert (await store.list(CallQuery())).calls == []
        await store.close()

        # Changing the retention changes the container's TTL on the next start.
        longer = CosmosHistoryStore(CosmosConfig(endpoint=fake.endpoint), key=KEY, retention_s=90 * DAY)
        await longer.start()
        assert fake.containers[("artagent", "calls")].props["defaultTtl"] == 90 * DAY
        assert fake.containers[("artagent", "calls")].props["partitionKey"]["paths"] == ["/call_id"]
        await longer.close()


async def test_a_wrong_key_is_refused_with_the_services_error() -> None:
    async with FakeCosmos() as fake:
        store = CosmosHistoryStore(CosmosConfig(endpoint=fake.endpoint), key="d3Jvbmcta2V5", retention_s=DAY)
        with pytest.raises(CosmosHttpResponseError) as caught:
            await store.start()
        assert caught.value.status_code == 401 and "signature mismatch" in str(caught.value)
        await store.close()


async def test_call_ids_that_cosmos_ids_cannot_hold_are_stored_under_an_encoded_id() -> None:
    async with FakeCosmos() as fake:
        store = CosmosHistoryStore(CosmosConfig(endpoint=fake.endpoint), key=KEY, retention_s=DAY)
        await store.start()
        odd = "acs/2026#11?a\\b"
        await store.apply(short_call(odd, dt.datetime(2026, 11, 22, tzinfo=dt.UTC)))
        doc = await store.get(odd)
        assert doc is not None and doc.call_id == odd and item_id(odd).startswith("b64~")
        [key] = fake.containers[("artagent", "calls")].items
        assert key == (f'["{odd}"]'.replace("\\", "\\\\"), item_id(odd))
        await store.close()


# -- Entra ID ----------------------------------------------------------------------------------
@pytest.fixture
def tls(tmp_path: Path) -> ssl.SSLContext:
    """A self-signed certificate for 127.0.0.1 (the SDK does not verify loopback endpoints, like
    the Cosmos DB emulator's; Entra ID tokens are only ever sent over TLS)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


@pytest.fixture
async def managed_identity(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[dict[str, str]]]:
    """A managed identity endpoint issuing the token ``entra-token-1``; yields the requests it
    served."""

    async def issue(resource: str) -> tuple[str, int]:
        return "entra-token-1", 3600

    async with managed_identity_endpoint(monkeypatch, issue) as served:
        yield served


async def test_without_a_key_the_store_signs_in_with_entra_id(
    tls: ssl.SSLContext, managed_identity: list[dict[str, Any]]
) -> None:
    async with FakeCosmos(tls=tls) as fake:
        fake.tokens.add("entra-token-1")
        store = CosmosHistoryStore(CosmosConfig(endpoint=fake.endpoint), key=None, retention_s=DAY)
        await store.start()  # DefaultAzureCredential -> managed identity -> bearer token
        await store.apply(insurance_call())
        assert (await store.get("call-42")) is not None
        await store.close()
    # The token is asked for the account's own resource (https://<account>.documents.azure.com).
    assert [q["resource"] for q in managed_identity] == ["https://127.0.0.1"]
    auth = {r.headers["Authorization"] for r in fake.requests}
    assert auth == {"type=aad&ver=1.0&sig=entra-token-1"}, "every request carried the token"


# -- the runtime -------------------------------------------------------------------------------
async def test_a_runtime_with_the_cosmos_store_folds_published_calls_into_the_container(
    make_config: MakeConfig,
) -> None:
    async with FakeCosmos() as fake:
        runtime = cosmos_runtime(
            make_config, f'endpoint = "{fake.endpoint}"\nkey_env = "COSMOS_KEY"', {"COSMOS_KEY": KEY}
        )
        async with runtime.running():
            events = insurance_call()
            for event in events:
                runtime.outbox.publish(event)
            assert await runtime.outbox.flush()

            async def ended() -> bool:
                doc = await runtime.history.get("call-42")
                return doc is not None and doc.status == "ended"

            await wait_until(ended, what="the call folded into Cosmos DB")
            doc = await runtime.history.get("call-42")
            assert doc == fold_events(None, "call-42", events)[0]
            [(_, item)] = fake.containers[("artagent", "calls")].items.items()
            assert item["call_id"] == "call-42" and len(item["event_ids"]) == 15
            assert fake.containers[("artagent", "calls")].props["defaultTtl"] == 7 * DAY
        await asyncio.sleep(0)


async def test_the_fake_refuses_an_item_over_2_mb_with_413_like_the_service() -> None:
    """What the store must never send: the real SDK's write of a 2.1 MB item is refused."""
    async with FakeCosmos() as fake:
        store = CosmosHistoryStore(CosmosConfig(endpoint=fake.endpoint), key=KEY, retention_s=DAY)
        await store.start()
        big = {"id": "big", "call_id": "big", "blob": "x" * (2 * 1024 * 1024 + 100_000)}
        with pytest.raises(CosmosHttpResponseError) as refused:
            await store.container.create_item(big)
        assert refused.value.status_code == 413
        await store.close()
