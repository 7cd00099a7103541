"""``[server] loop``: which event loop ``artagent serve`` runs on."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop
from artagent.config import ConfigError, load_config
from artagent.server import _runner


def test_auto_and_uvloop_run_on_uvloop_and_asyncio_on_the_standard_loop() -> None:
    assert _runner("auto") is uvloop.run
    assert _runner("uvloop") is uvloop.run
    assert _runner("asyncio") is asyncio.run


def test_without_uvloop_auto_falls_back_and_uvloop_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # what `import uvloop` finds where it is not installed
    assert _runner("auto") is asyncio.run
    with pytest.raises(ConfigError, match=r"runtime.toml: server.loop: 'uvloop' is not installed"):
        _runner("uvloop", "runtime.toml")


def test_an_unknown_loop_is_refused_with_its_key(tmp_path) -> None:
    path = tmp_path / "runtime.toml"
    path.write_text('[server]\nloop = "trio"\n')
    with pytest.raises(ConfigError, match=r"server.loop"):
        load_config(path)
