"""The openai plugin: discovered by entry point, its table decoded with errors on dotted keys, one
``model`` provider per router, why a router cannot serve, and the documented example table."""

from __future__ import annotations

import importlib.metadata as md
import re
from collections.abc import Callable
from pathlib import Path

import artagent_openai.hooks
import msgspec
import pytest
from _openai_kit import ask, collect
from artagent.config import ConfigError, LoadedConfig
from artagent.plugins import PluginHost
from artagent.providers import ModelProvider, TextDelta, UnknownProviderError
from artagent.runtime import Runtime
from artagent_openai.config import RouterConfig
from artagent_openai.router import OpenAIRouter
from fakes.openai_script import Reply
from fakes.openai_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[3]


def test_the_plugin_is_discovered_through_its_entry_point() -> None:
    points = {ep.name: ep for ep in md.entry_points(group="artagent")}
    assert points["openai"].value == "artagent_openai.hooks"
    host = PluginHost()
    host.load_entry_points()
    assert "openai" not in {f.name for f in host.failures}
    assert host.plugins["openai"].distribution == "artagent-openai"
    assert host.plugins["openai"].module == "artagent_openai.hooks"


def runtime(
    make_config: Callable[..., LoadedConfig], text: str, environ: dict[str, str] | None = None
) -> Runtime:
    host = PluginHost()
    host.register("openai", artagent_openai.hooks)
    return Runtime(make_config(text, environ=environ), host=host, load_entry_points=False)


def problems(make_config: Callable[..., LoadedConfig], table: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        runtime(make_config, table, {"OPENAI_API_KEY": "sk"})
    return [str(issue) for issue in raised.value.issues]


TWO_ROUTERS = """
[session]
model = "local"
[plugins.openai.routers.openai]
kind = "openai"
model = "gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"
[plugins.openai.routers.local]
kind = "compatible"
base_url = "{base_url}"
model = "llama3.2"
api_key_env = "LOCAL_LLM_KEY"
fallback_models = ["qwen2.5"]
"""
KEYS = {"OPENAI_API_KEY": "sk-openai", "LOCAL_LLM_KEY": "sk-test"}


async def test_each_router_is_a_model_provider_under_its_own_name(
    make_config: Callable[..., LoadedConfig], openai_server: FakeOpenAIServer
) -> None:
    rt = runtime(make_config, TWO_ROUTERS.format(base_url=openai_server.base_url), KEYS)
    assert rt.providers.names("model") == ["local", "openai"]
    assert rt.plugins.plugins["openai"].registered["register_providers"] == ["model:openai", "model:local"]

    hosted = rt.providers.create("model", "openai")
    local = rt.providers.create("model", "local")
    assert isinstance(hosted, ModelProvider) and isinstance(local, OpenAIRouter)
    assert rt.providers.create("model", "local") is local  # one router (one connection pool) for every call
    assert hosted.unavailable() is None and local.unavailable() is None

    openai_server.script(Reply(text="From the local model."))
    items = await collect(local, ask())
    assert [i.text for i in items if isinstance(i, TextDelta)] == ["From", " the", " local", " model."]
    [request] = openai_server.chat_requests
    # The key is the value of the variable the table names (LOCAL_LLM_KEY), never printed.
    assert request.model == "llama3.2" and request.headers["authorization"] == "Bearer sk-test"
    assert "sk-test" not in repr(local) and "sk-openai" not in repr(hosted)
    await local.aclose()
    with pytest.raises(UnknownProviderError, match=r"available: local, openai"):
        rt.providers.create("model", "azure")


def test_a_named_variable_that_is_not_set_is_a_config_error(make_config: Callable[..., LoadedConfig]) -> None:
    with pytest.raises(ConfigError) as raised:
        runtime(make_config, TWO_ROUTERS.format(base_url="http://127.0.0.1:9/v1"), {"LOCAL_LLM_KEY": "k"})
    assert [str(i) for i in raised.value.issues] == [
        "plugins.openai.routers.openai.api_key_env: environment variable OPENAI_API_KEY is not set"
    ]


def test_factory_settings_make_a_router_of_their_own(make_config: Callable[..., LoadedConfig]) -> None:
    rt = runtime(make_config, TWO_ROUTERS.format(base_url="http://127.0.0.1:9/v1"), KEYS)
    shared = rt.providers.create("model", "openai")
    tuned = rt.providers.create("model", "openai", {"model": "gpt-4.1", "temperature": 0.1})
    assert tuned is not shared and tuned.config.model == "gpt-4.1" and tuned.config.temperature == 0.1
    assert tuned.unavailable() is None  # same credentials
    with pytest.raises(
        ConfigError, match=r"plugins\.openai\.routers\.openai\.temperature: Expected `float` <= 2"
    ):
        rt.providers.create("model", "openai", {"temperature": 5})


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            '[plugins.openai.routers.azure]\nkind = "azure"\n'
            'endpoint = "https://x.openai.azure.com"\ndeployment = "d"\n',
            ['plugins.openai.routers.azure.api_version: required when kind = "azure"'],
        ),
        (
            '[plugins.openai.routers.azure]\nkind = "azure"\ntimeout_s = "slow"\n',
            ["plugins.openai.routers.azure.timeout_s: Expected `float`, got `str`"],
        ),
        (
            '[plugins.openai.routers.main]\nmodle = "gpt-4o"\n',
            ["plugins.openai.routers.main.modle: unknown key"],
        ),
        (
            '[plugins.openai.routers.main]\nkind = "bedrock"\n',
            ["plugins.openai.routers.main.kind: Invalid enum value 'bedrock'"],
        ),
        (
            '[plugins.openai.routers.main]\nmodel = "m"\nmax_retries = -1\n',
            ["plugins.openai.routers.main.max_retries: Expected `int` >= 0"],
        ),
        (
            '[plugins.openai.routers.main]\nmodel = "m"\nfirst_token_timeout_s = 40.0\n',
            ["plugins.openai.routers.main.first_token_timeout_s: must not exceed timeout_s"],
        ),
        (
            '[plugins.openai.routers.local]\nkind = "compatible"\n'
            'base_url = "localhost:11434"\nmodel = "m"\ndeployment = "d"\n',
            [
                'plugins.openai.routers.local.deployment: not used when kind = "compatible"',
                "plugins.openai.routers.local.base_url: must be an http:// or https:// URL, "
                "not 'localhost:11434'",
            ],
        ),
        (
            '[plugins.openai.routers]\nmain = "gpt-4o"\n',
            ["plugins.openai.routers.main: must be a table, not str"],
        ),
        ("[plugins.openai]\nrouter = {}\n", ["plugins.openai.router: unknown key"]),
        (
            '[plugins.openai.routers.a]\nkind = "compatible"\n'
            '[plugins.openai.routers.b]\nmodel = "m"\ntop_p = 2\n',
            [
                'plugins.openai.routers.a.base_url: required when kind = "compatible"',
                'plugins.openai.routers.a.model: required when kind = "compatible"',
                "plugins.openai.routers.b.top_p: Expected `float` <= 1",
            ],
        ),
    ],
)
def test_config_errors_name_the_dotted_key(
    make_config: Callable[..., LoadedConfig], table: str, expected: list[str]
) -> None:
    found = problems(make_config, table)
    assert len(found) == len(expected), found
    for issue, start in zip(found, expected, strict=True):
        assert issue.startswith(start), found


def test_no_router_is_configured_by_default(make_config: Callable[..., LoadedConfig]) -> None:
    assert runtime(make_config, "").providers.names("model") == []


def test_unavailable_says_why_a_router_cannot_serve() -> None:
    keyed = RouterConfig(model="gpt-4o", api_key_env="OPENAI_API_KEY")
    assert OpenAIRouter("openai", keyed, api_key=None).unavailable() == "OPENAI_API_KEY is not set"
    assert OpenAIRouter("openai", keyed, api_key="sk").unavailable() is None
    keyless = RouterConfig(model="gpt-4o")
    assert OpenAIRouter("gpt", keyless).unavailable() == (
        "plugins.openai.routers.gpt.api_key_env is not set: OpenAI needs an API key"
    )
    local = RouterConfig(kind="compatible", base_url="http://127.0.0.1:11434/v1", model="llama3.2")
    assert OpenAIRouter("local", local).unavailable() is None  # Ollama takes no key
    entra = RouterConfig(kind="azure", endpoint="https://x.openai.azure.com", deployment="d", api_version="v")
    assert OpenAIRouter("azure", entra).unavailable() is None  # Microsoft Entra ID


async def test_an_unavailable_router_refuses_to_stream_with_its_reason() -> None:
    router = OpenAIRouter("openai", RouterConfig(model="gpt-4o", api_key_env="OPENAI_API_KEY"))
    with pytest.raises(RuntimeError, match="model router 'openai' is unavailable: OPENAI_API_KEY is not set"):
        await collect(router, ask())


# -- documentation -------------------------------------------------------------------------------
def _example_table() -> str:
    """The commented ``[plugins.openai...]`` example of runtime.toml, uncommented."""
    text = (ROOT / "runtime.toml").read_text(encoding="utf-8")
    block = re.search(r"^# \[plugins\.openai\.routers\..*?(?=^[^#]|\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert block, "runtime.toml has no commented [plugins.openai.routers.*] example"
    lines = [
        line[2:]
        for line in block.group(0).splitlines()
        if line.startswith("# ") and not line.startswith("# #")
    ]
    return "\n".join(line for line in lines if re.match(r"^(\[|[a-z_]+ = )", line))


def test_the_runtime_toml_example_is_valid_and_covers_every_key(
    make_config: Callable[..., LoadedConfig],
) -> None:
    table = _example_table()
    environ = {"OPENAI_API_KEY": "sk", "AZURE_OPENAI_API_KEY": "az"}
    rt = runtime(make_config, '[session]\nmodel = "openai"\n' + table, environ)
    assert rt.providers.names("model") == ["azure", "local", "openai"]
    written = set(re.findall(r"^([a-z_]+) = ", table, flags=re.MULTILINE))
    missing = set(RouterConfig.__struct_fields__) - written
    assert not missing, f"runtime.toml's example omits {sorted(missing)}"


def test_docs_describe_every_router_key_with_its_default() -> None:
    doc = (ROOT / "docs" / "openai.md").read_text(encoding="utf-8")
    defaults = msgspec.structs.asdict(RouterConfig())
    problems = []
    for key, default in defaults.items():
        row = re.search(rf"^\| `{key}` \|[^|\n]*\|([^|\n]*)\|", doc, flags=re.MULTILINE)
        expected = "not set" if default is None else f"`{msgspec.json.encode(default).decode()}`"
        if row is None:
            problems.append(f"{key}: no row")
        elif row.group(1).strip() != expected:
            problems.append(f"{key}: documented {row.group(1).strip()!r}, code says {expected!r}")
    assert not problems, "docs/openai.md: " + "; ".join(problems)
