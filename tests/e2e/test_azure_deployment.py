"""runtime.azure.toml and the Container Apps manifest, and the Kubernetes manifests: valid, and
each configuration consistent with the secrets its manifest provides.

Plugins of the Azure stack that are not installed in this checkout (a plugin is built on its own
branch) are stood in for by permissive plugins of the same name, so the file's core sections,
its secrets and the tables of the installed plugins (azure_speech, and the others once they are
installed) are checked for real.
"""

from __future__ import annotations

import asyncio
import importlib.metadata as md
import os
import socket
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import uvicorn
import yaml
from artagent.app import create_app
from artagent.config import parse_config
from artagent.config_check import check_config
from artagent.hookspecs import hookimpl
from artagent.plugins import PluginHost
from artagent.providers import ProviderSpec
from artagent.runtime import Runtime
from artagent_analytics.store import Summary

ROOT = Path(__file__).resolve().parents[2]
AZURE_TOML = ROOT / "runtime.azure.toml"
MANIFEST = ROOT / "packaging" / "azure" / "containerapp.yaml"
ARTAGENT = Path(sys.executable).parent / "artagent"


def env_variables(table: Any) -> dict[str, str]:
    """Dotted key -> variable name, for every ``*_env`` key in the file."""
    found: dict[str, str] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                dotted = f"{path}.{key}" if path else key
                if key.endswith("_env") and isinstance(item, str):
                    found[dotted] = item
                else:
                    walk(item, dotted)

    walk(table, "")
    return found


SETTINGS = tomllib.loads(AZURE_TOML.read_text())
VARIABLES = env_variables(SETTINGS)


class Anything(msgspec.Struct):
    """A stand-in plugin's table: any keys (the real plugin checks them once installed)."""


class StandIn:
    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def plugin_config_schema(self) -> type[Anything]:
        return Anything

    @hookimpl
    def register_providers(self) -> list[ProviderSpec]:
        if self.name != "openai":
            return []
        return [
            ProviderSpec("model", router, lambda settings: object())
            for router in SETTINGS["plugins"]["openai"]["routers"]
        ]


def host_for_the_azure_stack() -> PluginHost:
    host = PluginHost(strict=True)
    host.load_entry_points()
    installed = {ep.name for ep in md.entry_points(group="artagent")}
    for name in SETTINGS["plugins"]:
        if name not in installed:
            host.register(name, StandIn(name))
    return host


def test_the_azure_file_names_every_secret_of_the_stack() -> None:
    assert VARIABLES == {
        "bus.redis_password_env": "ARTAGENT_REDIS_PASSWORD",
        "plugins.azure_speech.key_env": "AZURE_SPEECH_KEY",
        "plugins.openai.routers.azure.api_key_env": "AZURE_OPENAI_API_KEY",
        "plugins.acs.connection_string_env": "ACS_CONNECTION_STRING",
        "plugins.acs.signing_key_env": "ACS_SIGNING_KEY",
        "plugins.acs.eventgrid_secret_env": "ACS_EVENTGRID_SECRET",
        "plugins.acs.control_token_env": "ARTAGENT_CONTROL_TOKEN",
        "plugins.cosmos.key_env": "COSMOS_KEY",
        "server.api_token_env": "ARTAGENT_API_TOKEN",
        "server.metrics_token_env": "ARTAGENT_METRICS_TOKEN",
        "plugins.browser.secret_env": "ARTAGENT_BROWSER_SECRET",
    }


def test_the_phone_channel_is_secured_and_transfers_to_a_person() -> None:
    acs = SETTINGS["plugins"]["acs"]
    assert acs["control_access"] == "token" and acs["control_token_env"]
    assert acs["signing_key_env"] and acs["eventgrid_secret_env"] and acs["jwt_audience"]
    assert acs["transfer_target"].startswith(("+", "8:acs:"))
    assert acs["public_url"].startswith("https://")


def test_the_azure_file_passes_config_check_with_its_variables_set() -> None:
    environ = {variable: f"value-of-{variable}" for variable in VARIABLES.values()}
    assert check_config(AZURE_TOML, environ=environ, host=host_for_the_azure_stack()) == []


def test_config_check_names_each_missing_variable_by_key() -> None:
    environ = {variable: "set" for variable in VARIABLES.values()}
    environ.pop("AZURE_SPEECH_KEY")
    environ.pop("COSMOS_KEY")
    issues = check_config(AZURE_TOML, environ=environ, host=host_for_the_azure_stack())
    assert [str(i) for i in issues] == [
        "plugins.azure_speech.key_env: environment variable AZURE_SPEECH_KEY is not set",
        "plugins.cosmos.key_env: environment variable COSMOS_KEY is not set",
    ]


def test_the_command_lists_every_missing_variable(data_dir: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in VARIABLES.values()}
    result = subprocess.run(
        [str(ARTAGENT), "config", "check", str(AZURE_TOML)],
        cwd=data_dir,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    for key, variable in VARIABLES.items():
        assert f"  {key}: environment variable {variable} is not set\n" in result.stderr


# -- the Container Apps manifest -----------------------------------------------------------
APP = yaml.safe_load(MANIFEST.read_text())
CONTAINER = APP["properties"]["template"]["containers"][0]


def test_the_manifest_sets_exactly_the_variables_the_file_names() -> None:
    secret_backed = {e["name"] for e in CONTAINER["env"] if "secretRef" in e}
    assert secret_backed == set(VARIABLES.values())
    secrets = {s["name"] for s in APP["properties"]["configuration"]["secrets"]}
    assert {e["secretRef"] for e in CONTAINER["env"] if "secretRef" in e} <= secrets
    assert all(
        s["keyVaultUrl"].startswith("https://") and s["identity"]
        for s in APP["properties"]["configuration"]["secrets"]
    )


def test_the_manifest_serves_the_file_on_its_port_and_drains_within_the_grace_period() -> None:
    volumes = {v["name"]: v for v in APP["properties"]["template"]["volumes"]}
    mounts = {m["mountPath"]: m["volumeName"] for m in CONTAINER["volumeMounts"]}
    config_volume = volumes[mounts["/etc/artagent"]]
    assert config_volume["storageType"] == "Secret"
    assert config_volume["secrets"] == [{"secretRef": "runtime-toml", "path": "runtime.toml"}]
    assert CONTAINER["args"] == ["serve", "--config", "/etc/artagent/runtime.toml"]
    assert mounts[SETTINGS["runtime"]["data_dir"]] == "data"
    assert APP["properties"]["configuration"]["ingress"]["targetPort"] == SETTINGS["server"]["port"]
    assert (
        APP["properties"]["template"]["terminationGracePeriodSeconds"] > SETTINGS["server"]["drain_timeout_s"]
    )
    probes = {p["type"]: p["httpGet"]["path"] for p in CONTAINER["probes"]}
    assert probes == {"Readiness": "/readiness", "Liveness": "/health", "Startup": "/health"}


def test_the_manifest_scales_on_active_calls_from_the_analytics_summary() -> None:
    scale = APP["properties"]["template"]["scale"]
    rule = next(r["custom"] for r in scale["rules"] if r["name"] == "active-calls")
    assert rule["type"] == "metrics-api"
    assert rule["metadata"]["url"].endswith("/api/v1/analytics/summary")
    assert rule["metadata"]["valueLocation"] in Summary.__struct_fields__
    assert int(rule["metadata"]["targetValue"]) > 0
    assert 1 <= scale["minReplicas"] < scale["maxReplicas"]
    # The summary is behind the metrics token: the rule sends the secret that variable holds.
    assert rule["metadata"]["authMode"] == "bearer"
    [auth] = rule["auth"]
    assert auth["triggerParameter"] == "token"
    env = {e["name"]: e.get("secretRef") for e in CONTAINER["env"]}
    assert auth["secretRef"] == env[SETTINGS["server"]["metrics_token_env"]]


# -- what the public ingress exposes ---------------------------------------------------------
def test_the_public_deployment_protects_reads_and_the_browser_page() -> None:
    assert APP["properties"]["configuration"]["ingress"]["external"] is True
    assert SETTINGS["server"]["api_token_env"] and SETTINGS["server"]["metrics_token_env"]
    browser = SETTINGS["plugins"]["browser"]
    # Tokens signed by one replica verify on another; no anonymous conversations on the budget.
    assert browser["secret_env"]
    assert browser["auth"] == "oidc" or browser.get("page") is False
    assert browser["auth"] != "none"


@asynccontextmanager
async def azure_app() -> AsyncIterator[httpx.AsyncClient]:
    """The app as runtime.azure.toml builds it (every plugin of the stack, the variables set to
    stand-in values), on a loopback port; the runtime is not started (no Azure, no Redis): the
    guards and the browser's auth answer before any of that is needed."""
    environ = {variable: f"value-of-{variable}" for variable in VARIABLES.values()}
    loaded = parse_config(AZURE_TOML.read_text(), base_dir=ROOT, source=str(AZURE_TOML), environ=environ)
    runtime = Runtime(loaded, host=host_for_the_azure_stack(), load_entry_points=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "the server did not start"
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}") as http:
            yield http
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_the_azure_app_refuses_anonymous_reads_and_conversations() -> None:
    api = {"authorization": "Bearer value-of-ARTAGENT_API_TOKEN"}
    metrics = {"authorization": "Bearer value-of-ARTAGENT_METRICS_TOKEN"}
    async with azure_app() as http:
        reads = ["/api/v1/calls", "/api/v1/calls/call-1", "/api/v1/insurance/claims", "/api/v1/agents",
                 "/api/v1/analytics/calls/call-1", "/api/v1/plugins", "/asyncapi"]  # fmt: skip
        for path in reads:
            refused = await http.get(path)
            assert refused.status_code == 401, path
            assert refused.json()["detail"].startswith("Authorization: a bearer token is required")
            assert (await http.get(path, headers=metrics)).status_code == 401, path
        for path in ("/metrics", "/api/v1/analytics/summary"):
            assert (await http.get(path)).status_code == 401, path
        assert (await http.get("/metrics", headers=metrics)).status_code == 200
        assert (await http.get("/api/v1/plugins", headers=api)).status_code == 200
        # The page is served, but a conversation needs an Entra ID bearer token.
        assert (await http.get("/api/v1/browser/config")).json()["auth"] == "oidc"
        anonymous = await http.post("/api/v1/browser/sessions", json={})
        assert anonymous.status_code == 401
        assert anonymous.json()["detail"] == (
            "Authorization: a bearer token from the identity provider is required"
        )
        assert (await http.get("/health")).status_code == 200


# -- the Kubernetes manifests --------------------------------------------------------------
K8S = ROOT / "packaging" / "k8s"
K8S_TEXT = yaml.safe_load((K8S / "configmap.yaml").read_text())["data"]["runtime.toml"]
K8S_TOML = tomllib.loads(K8S_TEXT)
K8S_POD = yaml.safe_load((K8S / "deployment.yaml").read_text())["spec"]["template"]["spec"]
K8S_CONTAINER = K8S_POD["containers"][0]


def test_the_pods_get_every_variable_their_file_names_from_a_secret() -> None:
    from_secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"] for e in K8S_CONTAINER["env"] if "valueFrom" in e
    }
    assert set(from_secrets) == set(env_variables(K8S_TOML).values())
    assert from_secrets["ACS_SIGNING_KEY"]["name"] == "artagent-acs", "one signing key for every pod"
    assert K8S_TOML["plugins"]["acs"]["control_access"] == "token"


def test_the_pods_file_passes_config_check_with_its_variables_set(tmp_path: Path) -> None:
    path = tmp_path / "runtime.toml"
    path.write_text(K8S_TEXT)
    environ = {variable: "set" for variable in env_variables(K8S_TOML).values()}
    assert check_config(path, environ=environ, host=host_for_the_azure_stack()) == []
