"""The ACS plugin is found through its entry point, checks its table, adds `artagent call`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from artagent.config import ConfigError, LoadedConfig
from artagent.plugins import PluginHost
from artagent.runtime import Runtime

import artagent_acs.hooks


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
        ('key_env = "NOT_SET_ANYWHERE"', "plugins.acs.key_env: environment variable NOT_SET_ANYWHERE is not set"),
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
