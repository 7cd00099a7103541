"""`artagent config check` reports everything at once: each missing environment variable by the
key that names it, and the plugin tables too (unknown plugins, bad keys, plugins that failed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from artagent.config import MissingSecret
from artagent.config_check import check_config
from artagent.hookspecs import hookimpl
from artagent.plugins import PluginHost


class VaultConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    token_env: str | None = None
    mount: str = "secret"


class VaultPlugin:
    """A plugin whose table names a secret; its hook fails if it gets no value for it."""

    seen: list[dict[str, str]]

    def __init__(self) -> None:
        self.seen = []

    @hookimpl
    def plugin_config_schema(self) -> type[VaultConfig]:
        return VaultConfig

    @hookimpl
    def register_subscribers(self, config: VaultConfig, secrets: Any) -> list[Any]:
        self.seen.append(dict(secrets))
        return []


def host_with(**plugins: object) -> PluginHost:
    host = PluginHost()
    for name, plugin in plugins.items():
        host.register(name, plugin)
    return host


def write_file(data_dir: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = data_dir / "check.toml"
        path.write_text(f'[runtime]\ndata_dir = "{data_dir}"\n{text}')
        return path

    return write


def test_every_missing_variable_is_named_with_its_key_and_plugin_tables_are_still_checked(
    data_dir: Path,
) -> None:
    path = write_file(data_dir)(
        '[bus]\nredis_url = "redis://127.0.0.1:1"\nredis_password_env = "AA_REDIS_PW"\n'
        '[plugins.vault]\ntoken_env = "AA_VAULT_TOKEN"\nmoutn = "kv"\n'
    )
    vault = VaultPlugin()
    issues = check_config(path, environ={}, host=host_with(vault=vault))
    assert [str(i) for i in issues] == [
        "bus.redis_password_env: environment variable AA_REDIS_PW is not set",
        "plugins.vault.token_env: environment variable AA_VAULT_TOKEN is not set",
        "plugins.vault.moutn: unknown key",
    ]
    assert [i.variable for i in issues if isinstance(i, MissingSecret)] == ["AA_REDIS_PW", "AA_VAULT_TOKEN"]


def test_with_the_variables_set_the_file_is_ok_and_hooks_see_the_real_values(data_dir: Path) -> None:
    path = write_file(data_dir)('[plugins.vault]\ntoken_env = "AA_VAULT_TOKEN"\n')
    vault = VaultPlugin()
    assert check_config(path, environ={"AA_VAULT_TOKEN": "s3cret"}, host=host_with(vault=vault)) == []
    assert vault.seen == [{"token_env": "s3cret"}]


def test_missing_variables_are_checked_with_stand_in_values_not_left_out(data_dir: Path) -> None:
    path = write_file(data_dir)('[plugins.vault]\ntoken_env = "AA_VAULT_TOKEN"\n')
    vault = VaultPlugin()
    check_config(path, environ={}, host=host_with(vault=vault))
    assert vault.seen == [{"token_env": ""}]


def test_a_table_for_a_plugin_not_installed_says_what_to_install(data_dir: Path) -> None:
    path = write_file(data_dir)('[plugins.cosmos]\nendpoint = "https://x.documents.azure.com"\n')
    issues = check_config(path, environ={}, host=host_with(vault=VaultPlugin()))
    assert [(i.path, i.message) for i in issues] == [
        (
            "plugins.cosmos",
            "no plugin of this name is installed (installed: vault); install its distribution "
            "(artagent-cosmos by convention) or remove the table",
        )
    ]


def test_a_table_for_a_plugin_that_failed_to_load_is_reported_as_not_checked(data_dir: Path) -> None:
    class Misspelt:
        @hookimpl
        def register_subscriber(self) -> list[Any]:  # not a hook: the plugin is refused
            return []

    path = write_file(data_dir)("[plugins.misspelt]\nx = 1\n")
    issues = check_config(path, environ={}, host=host_with(misspelt=Misspelt()))
    assert len(issues) == 1 and issues[0].path == "plugins.misspelt"
    expected = "not checked: the plugin failed to load (unknown hook(s) register_subscriber"
    assert issues[0].message.startswith(expected)


def test_other_errors_are_reported_without_building_the_runtime(data_dir: Path) -> None:
    path = write_file(data_dir)('[bus]\nredis_url = "http://x"\nredis_password_env = "AA_REDIS_PW"\n')
    vault = VaultPlugin()
    issues = check_config(path, environ={}, host=host_with(vault=vault))
    assert [i.path for i in issues] == ["bus.redis_url", "bus.redis_password_env"]
    assert vault.seen == []
