"""The ACS plugin is found through its entry point, checks its table, adds `artagent call`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import artagent_acs.hooks
import pytest
from artagent.config import ConfigError, LoadedConfig
from artagent.plugins import PluginHost
from artagent.runtime import Runtime


def test_entry_point_is_discovered() -> None:
    host = PluginHost()
    host.load_entry_points()
    assert "acs" not in {f.name for f in host.failures}
    info = host.plugins["acs"]
    assert info.distribution == "artagent-acs"
    assert info.module == "artagent_acs.hooks"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("sample_rate = 8000", "plugins.acs.sample_rate"),
        ('audio_channel = "stereo"', "plugins.acs.audio_channel"),
        ("media_timeout_s = 0", "plugins.acs.media_timeout_s"),
        ('control_access = "anyone"', "plugins.acs.control_access"),
        ("trasnfer_target = '+1'", "plugins.acs.trasnfer_target: unknown key"),
        (
            'key_env = "NOT_SET_ANYWHERE"',
            "plugins.acs.key_env: environment variable NOT_SET_ANYWHERE is not set",
        ),
    ],
)
def test_a_bad_table_is_an_error_naming_the_key(
    make_config: Callable[..., LoadedConfig], table: str, message: str
) -> None:
    host = PluginHost()
    host.register("acs", artagent_acs.hooks)
    with pytest.raises(ConfigError) as caught:
        Runtime(make_config(f"[plugins.acs]\n{table}\n"), host=host, load_entry_points=False)
    assert message in str(caught.value)


def test_artagent_call_is_a_command() -> None:
    artagent = str(Path(sys.executable).parent / "artagent")
    done = subprocess.run([artagent, "call", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for option in ("--wav", "--say", "--script", "--interrupt", "--json", "--save", "--to"):
        assert option in done.stdout


def test_a_connection_string_that_is_not_one_is_named_when_a_call_needs_it() -> None:
    from artagent_acs.config import AcsConfig
    from artagent_acs.control import CallControlUnavailable
    from artagent_acs.service import AcsService
    from redis.asyncio import Redis

    config = AcsConfig(connection_string_env="ACS_CS")
    service = AcsService(config, {"connection_string_env": "junk"}, Redis())  # no I/O until used
    assert service.control.enabled
    with pytest.raises(
        CallControlUnavailable, match=r"plugins\.acs\.connection_string_env: the variable does not"
    ):
        service.control.client()
